"""The paper's own numbers (Tables II-IV, quotes from its text) and the audit of them against each other and the Keras example."""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd



#: the paper's model names -> ours. "Resnet_36" is not a 6n+2 depth; the CIFAR ResNet series
#: it sits in (20, 44, 56, step 12) and the Keras example it follows put ResNet-32 there.
PAPER_MODELS = {"Resnet_20": "ResNet-20", "Resnet_36": "ResNet-32", "Resnet_44": "ResNet-44",
                "Resnet_56": "ResNet-56", "VGG_16": "VGG16"}


MODEL_ORDER = ["ResNet-20", "ResNet-32", "ResNet-44", "ResNet-56", "VGG16"]


DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


PAPER_TABLE = {"cifar10": "II", "cifar100": "III"}


#: 200-epoch CIFAR-10 accuracies of the Keras ``cifar10_resnet`` example (ResNet v1), from the
#: table in its docstring; the paper's with-BN baselines are compared with them in the audit.
KERAS_EXAMPLE_V1 = {"ResNet-20": 0.9216, "ResNet-32": 0.9246, "ResNet-44": 0.9250, "ResNet-56": 0.9271}


def _paper_csv(name: str) -> pd.DataFrame:
    with resources.files("analognoise.paper").joinpath(name).open() as f:
        table = pd.read_csv(f)
    if "paper_model" in table:
        table.insert(table.columns.get_loc("paper_model") + 1, "model", table["paper_model"].map(PAPER_MODELS))
    return table


def paper_accuracy() -> pd.DataFrame:
    """Tables II and III: table, dataset, paper_model, model, variant, eta, accuracy (fraction)."""
    table = _paper_csv("paper_accuracy.csv")
    table["accuracy"] = table.pop("accuracy_pct") / 100
    return table


def paper_table4() -> pd.DataFrame:
    """Table IV as published: dataset, paper_model, model, variant, a_avr (fraction)."""
    table = _paper_csv("paper_table4.csv")
    table["a_avr"] = table.pop("a_avr_pct") / 100
    return table


def paper_quotes() -> pd.DataFrame:
    """Numbers quoted in the paper's section IV text, with what each refers to."""
    return _paper_csv("paper_quotes.csv")


def _with_normalized(table: pd.DataFrame, keys) -> pd.DataFrame:
    clean = table[table.eta == 0].set_index(keys)["accuracy"].rename("clean_accuracy")
    table = table.join(clean, on=keys)
    table["normalized_accuracy"] = table["accuracy"] / table["clean_accuracy"]
    return table


def recompute_paper_table4() -> pd.DataFrame:
    """Eq. 13-14 applied to Tables II/III, beside the published Table IV (fractions)."""
    keys = ["dataset", "paper_model", "variant"]
    table = _with_normalized(paper_accuracy(), keys)
    recomputed = (table[table.eta > 0].groupby(keys)["normalized_accuracy"].mean()
                  .rename("recomputed").reset_index())
    merged = paper_table4().merge(recomputed, on=keys)
    merged = merged.rename(columns={"a_avr": "published"})
    merged["difference"] = merged["published"] - merged["recomputed"]
    return merged


def check_paper_quotes(tolerance_pct: float = 0.015) -> pd.DataFrame:
    """Every number quoted in section IV against the value the paper's tables give.

    A difference within ``tolerance_pct`` percentage points is rounding.
    """
    keys = ["dataset", "paper_model", "variant"]
    table = _with_normalized(paper_accuracy(), keys)
    table4 = paper_table4().set_index(keys)["a_avr"]
    rows = []
    for q in paper_quotes().itertuples():
        key = (q.dataset, q.paper_model, q.variant)
        if q.quantity == "degradation_eq14":
            value = 100 * (1 - table4[key])
        else:
            cell = table[(table.dataset == q.dataset) & (table.paper_model == q.paper_model)
                         & (table.variant == q.variant) & np.isclose(table.eta, q.eta)]
            value = 100 * float(cell["accuracy" if q.quantity == "accuracy" else "normalized_accuracy"].iloc[0])
        rows.append(dict(section=q.section, quote=q.quote, quantity=q.quantity,
                         quoted_pct=q.value_pct, from_tables_pct=round(value, 2),
                         consistent=abs(value - q.value_pct) <= tolerance_pct))
    return pd.DataFrame(rows)


def paper_table_oddities() -> list[str]:
    """Patterns in Tables II/III that a reader should know: identical cells, floors at chance."""
    notes = []
    acc = paper_accuracy()
    for (dataset, model, variant), g in acc.groupby(["dataset", "paper_model", "variant"]):
        values = g.sort_values("eta")["accuracy"].round(4).tolist()
        chance = 0.1 if dataset == "cifar10" else 0.01
        repeats = [f"{100 * a:.2f}% at eta {100 * e1:g}% and {100 * e2:g}%"
                   for (e1, a), (e2, b) in zip(zip(g.eta, values), list(zip(g.eta, values))[1:])
                   if a == b and a > chance]
        if repeats:
            notes.append(f"Table {PAPER_TABLE[dataset]}, {model} {variant}: identical accuracy "
                         + "; ".join(repeats) + " (a copied cell?)")
        at_chance = [e for e, a in zip(g.eta, values) if e > 0 and abs(a - chance) < 1e-9]
        if len(at_chance) >= 4:
            notes.append(f"Table {PAPER_TABLE[dataset]}, {model} {variant}: exactly chance "
                         f"({100 * chance:g}%) at eta {', '.join(f'{100 * e:g}%' for e in at_chance)}: "
                         f"every prediction is one class, which non-finite outputs (argmax of NaN = class 0) "
                         f"or a collapsed network produce")
    return notes


def compare_with_keras_example() -> pd.DataFrame:
    """The paper's clean CIFAR-10 accuracies with BN beside the Keras example's (fractions)."""
    paper = paper_accuracy()
    paper = paper[(paper.dataset == "cifar10") & (paper.variant == "BN") & (paper.eta == 0)]
    table = paper[paper.model.isin(list(KERAS_EXAMPLE_V1))][["paper_model", "model", "accuracy"]]
    table = table.rename(columns={"accuracy": "paper"}).assign(keras_example=lambda t: t.model.map(KERAS_EXAMPLE_V1))
    table["identical"] = np.isclose(table.paper, table.keras_example)
    return table.reset_index(drop=True)
