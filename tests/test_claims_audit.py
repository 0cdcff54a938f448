"""The claims audit: every claim of the paper (``analysis.CLAIMS``) is fed data where it must say
"supported" and data where it must say "not supported", so that no verdict rule can only ever
agree. A claim registered without an entry here fails the audit."""
import numpy as np
import pandas as pd
import pytest

from analognoise import analysis

ETAS = (0.0, 0.01, 0.1, 0.2, 0.3, 0.4)


def arm(model="ResNet-20", variant="BN", clean=0.90, drop=0.3, dataset="cifar10", seeds=3, repeats=5, bn=None):
    """One arm's noise table: ``seeds`` trained models whose accuracy falls linearly from ``clean``
    to ``clean * (1 - drop)`` at eta = 40% (a negative ``drop`` rises), with a small spread over
    seeds and draws."""
    rng = np.random.default_rng(abs(hash((model, variant, dataset, clean, drop))) % 2**32)
    rows = []
    for seed in range(seeds):
        seed_clean = clean + rng.normal(0, 0.003)
        for eta in ETAS:
            for repeat in range(repeats):
                accuracy = seed_clean if eta == 0 else seed_clean * (1 - drop * eta / 0.4) + rng.normal(0, 0.002)
                rows.append(dict(dataset=dataset, model=model, variant=variant, bn=bn or {"BN": "all", "no BN": "none"}.get(
                    variant, "first:3"), seed=seed, run_id=f"{dataset}-{model}-{variant}-{seed}", eta=eta, repeat=repeat,
                    accuracy=accuracy, clean_accuracy=seed_clean, normalized_accuracy=accuracy / seed_clean,
                    nonfinite_fraction=0.0, targets="trainable", scale="tensor", test_images=1000))
    return pd.DataFrame(rows)


def study(*arms):
    return pd.concat(arms, ignore_index=True)


def pair(bn_drop, no_bn_drop, bn_clean=0.90, no_bn_clean=0.90, **kw):
    return study(arm(variant="BN", drop=bn_drop, clean=bn_clean, **kw),
                 arm(variant="no BN", drop=no_bn_drop, clean=no_bn_clean, **kw))


def by_depth(variant, drops, seeds=2):
    return study(*(arm(model=f"ResNet-{d}", variant=variant, drop=drop, seeds=seeds) for d, drop in drops.items()))


def layered(clean, drops):
    return study(*(arm(variant=v, clean=c, drop=drops[v], seeds=1) for v, c in clean.items()))


#: claim id -> (data where it holds, data where it does not)
AUDIT = {
    "bn-higher-clean-accuracy": (pair(0.3, 0.3, bn_clean=0.90, no_bn_clean=0.85),
                                 pair(0.3, 0.3, bn_clean=0.85, no_bn_clean=0.90)),
    "accuracy-falls-with-eta": (pair(0.4, 0.2), pair(-0.2, -0.3)),
    "bn-loses-larger-fraction": (pair(0.5, 0.1), pair(0.1, 0.5)),
    "bn-below-no-bn-at-10": (pair(0.5, 0.1), pair(0.1, 0.5)),
    "shallower-bn-more-robust": (by_depth("BN", {20: 0.20, 32: 0.32, 56: 0.56}),
                                 by_depth("BN", {20: 0.56, 32: 0.44, 56: 0.20})),
    "no-bn-flat-over-depth": (by_depth("no BN", {20: 0.1, 32: 0.1, 56: 0.1}),
                              by_depth("no BN", {20: 0.10, 32: 0.22, 56: 0.46})),
    "harder-task-degrades-more": (study(arm(drop=0.2, seeds=1), arm(drop=0.5, dataset="cifar100", clean=0.6, seeds=1)),
                                  study(arm(drop=0.5, seeds=1), arm(drop=0.2, dataset="cifar100", clean=0.6, seeds=1))),
    "table-iv-bn-lower": (pair(0.5, 0.1, seeds=1), pair(0.1, 0.5, seeds=1)),
    "more-bn-layers-trade-off": (
        layered({"no BN": 0.80, "partial BN": 0.85, "BN": 0.90}, {"no BN": 0.1, "partial BN": 0.3, "BN": 0.5}),
        layered({"no BN": 0.90, "partial BN": 0.85, "BN": 0.80}, {"no BN": 0.5, "partial BN": 0.3, "BN": 0.1})),
}


def test_every_claim_is_audited():
    assert set(AUDIT) == set(analysis.CLAIMS), "add a supporting and a contradicting case for every new claim"


@pytest.mark.parametrize("claim", sorted(AUDIT))
def test_a_claim_says_yes_and_no(claim):
    holds, fails = AUDIT[claim]
    yes = analysis.claims_checklist(holds).set_index("id").loc[claim]
    no = analysis.claims_checklist(fails).set_index("id").loc[claim]
    assert yes.verdict.startswith("supported"), f"{claim} on supporting data: {yes.verdict} ({yes.evidence})"
    assert no.verdict == "not supported", f"{claim} on contradicting data: {no.verdict} ({no.evidence})"
