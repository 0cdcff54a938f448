import numpy as np
import pandas as pd
import pytest

from analognoise import metrics


def table(values):
    rows = [dict(eta=eta, repeat=r, accuracy=a, nonfinite_fraction=0.0)
            for eta, accs in values.items() for r, a in enumerate(accs)]
    t = pd.DataFrame(rows)
    t["normalized_accuracy"] = metrics.normalized_accuracy(t["accuracy"], 0.8)
    return t


def test_eq13_and_eq14_by_hand():
    t = table({0.0: [0.8, 0.8], 0.1: [0.6, 0.8], 0.4: [0.2, 0.2]})
    # eq. 13: 0.7/0.8 and 0.2/0.8; eq. 14 their mean
    assert metrics.average_normalized_accuracy(t) == pytest.approx((0.875 + 0.25) / 2)
    mean, lo, hi = metrics.average_normalized_accuracy_ci(t)
    assert mean == pytest.approx((0.875 + 0.25) / 2) and lo < mean < hi


def test_paper_table_iv_row_from_table_ii():
    # ResNet_20 with BN on CIFAR-10 (Table II) -> Table IV says 61.88%
    accs = {0.0: 92.16, 0.01: 91.48, 0.1: 87.20, 0.2: 66.16, 0.3: 26.47, 0.4: 13.83}
    t = pd.DataFrame([dict(eta=e, repeat=0, accuracy=a / 100) for e, a in accs.items()])
    t["normalized_accuracy"] = metrics.normalized_accuracy(t["accuracy"], 0.9216)
    assert 100 * metrics.average_normalized_accuracy(t) == pytest.approx(61.88, abs=0.01)


def test_mean_ci_matches_t_interval():
    mean, lo, hi = metrics.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.302653 * 1 / np.sqrt(3), rel=1e-5)
    assert metrics.mean_ci([5.0]) == (5.0, 5.0, 5.0)


def test_summary_per_eta_and_empty_eq14():
    t = table({0.0: [0.8, 0.8, 0.8], 0.2: [0.4, 0.5, 0.6]})
    s = metrics.summarize_by_eta(t)
    assert s["trials"].tolist() == [3, 3] and s["seeds"].tolist() == [1, 1]
    assert s.loc[1, "accuracy"] == pytest.approx(0.5) and s.loc[1, "accuracy_lo"] < 0.5
    with pytest.raises(ValueError, match="non-zero eta"):
        metrics.average_normalized_accuracy(t[t.eta == 0])


def test_a_clean_accuracy_gets_a_binomial_interval_over_the_test_images():
    from analognoise import metrics as m
    acc, lo, hi = m.wilson_ci(0.9, 1000)
    assert lo == pytest.approx(0.8797, abs=1e-3) and hi == pytest.approx(0.9170, abs=1e-3)
    table = pd.DataFrame(dict(eta=[0.0, 0.0], repeat=[0, 1], accuracy=[0.9, 0.9], normalized_accuracy=[1.0, 1.0],
                              nonfinite_fraction=[0.0, 0.0], seed=[0, 0], test_images=[1000, 1000]))
    row = m.summarize_by_eta(table).iloc[0]
    assert row.accuracy_lo == pytest.approx(lo) and row.accuracy_hi == pytest.approx(hi)
