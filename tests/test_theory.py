"""The section II estimators on a model where the answer is known in closed form:
softmax regression, whose per-sample gradient is x (p - y)^T for the kernel and p - y for the bias."""
import keras
import numpy as np
import pandas as pd
import pytest

from analognoise import analysis, params, theory, training


@pytest.fixture(scope="module")
def softmax_regression():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 400)]
    return model, x, y


def closed_form_gradients(model, x, y):
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in model.trainable_variables)
    logits = x @ kernel + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - y
    per_kernel = np.einsum("ni,nk->nik", x, residual).reshape(len(x), -1)
    return np.concatenate([per_kernel, residual], axis=1)


def test_per_sample_gradients_match_the_closed_form(softmax_regression):
    model, x, y = softmax_regression
    per_sample, batch = theory.gradient_functions(model)
    expected = closed_form_gradients(model, x[:50], y[:50])
    np.testing.assert_allclose(per_sample(x[:50], y[:50]), expected, atol=2e-6)
    loss, mean_grad = batch(x[:50], y[:50], False)
    np.testing.assert_allclose(mean_grad, expected.mean(0), atol=2e-6)


def test_c_is_the_mean_squared_deviation_of_per_sample_gradients(softmax_regression):
    model, x, y = softmax_regression
    g = closed_form_gradients(model, x, y)
    stats = theory.gradient_noise(model, x, y, chunk=64)
    assert stats.c == pytest.approx(((g - g.mean(0)) ** 2).sum(1).mean(), rel=1e-4)
    np.testing.assert_allclose(stats.full_gradient, g.mean(0), atol=2e-6)
    assert stats.c_by_variable.sum() == pytest.approx(stats.c, rel=1e-6)
    assert len(stats.c_by_variable) == 2


@pytest.mark.parametrize("training", [False, True])
def test_minibatch_power_follows_c_over_batch_size(softmax_regression, training):
    model, x, y = softmax_regression
    stats = theory.gradient_noise(model, x, y)
    table = theory.minibatch_noise(model, x, y, stats, batch_sizes=(4, 16, 64), batches=150,
                                   training=training, seed=1)
    means = table.groupby("batch_size")[["power", "predicted"]].mean()
    expected = stats.c / means.index * (len(x) - means.index) / (len(x) - 1)
    np.testing.assert_allclose(means.predicted, expected, rtol=1e-9)
    # 150 draws of a sum over 52 squared coordinates: the mean is within ~10% (3 sigma)
    np.testing.assert_allclose(means.power, means.predicted, rtol=0.15)
    slope, _ = analysis.power_law_fit(table)
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_smoothness_restores_the_weights_and_measures_a_change(softmax_regression):
    model, x, y = softmax_regression
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    result = theory.smoothness(model, x[:64], y[:64], step_sizes=(0.1, 1.0))
    after = [keras.ops.convert_to_numpy(v) for v in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert result["loss_range"] > 0 and result["gradient_change"] > 0
    assert list(result["losses"]) == [0.0, 0.1, 1.0]
    assert result["losses"][1.0] < result["losses"][0.0], "a small step down the gradient lowers the loss"
    # the softmax Hessian is bounded by ||x||^2 / 2: beta cannot exceed the largest eigenvalue
    assert result["beta_smoothness"] <= np.linalg.eigvalsh(x[:64].T @ x[:64] / 64).max()


@pytest.mark.parametrize("settings, message", [
    (dict(batch_sizes=[0]), "batch_sizes"), (dict(pool=8, batch_sizes=[16]), "batch_sizes"),
    (dict(batches=1), "batches"), (dict(step_sizes=[-0.1]), "step_sizes"), (dict(steps=3), "unknown"),
])
def test_bad_theory_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        params.validate_theory_params(settings)


def test_measure_and_save_on_a_trained_run(tmp_path, data_root):
    p = params.make_params(depth=8, epochs=2, batch_size=64, bn="all")
    run_dir = training.train_run(p, tmp_path, data_root, verbose=0)
    tables = theory.measure_and_save(run_dir, data_root, pool=32, batch_sizes=[4, 8], batches=3,
                                     smoothness_batch=16, step_sizes=[0.01, 0.1])
    assert tables["checkpoints"].epoch.tolist() == [0, 1, 2]
    saved = pd.read_csv(run_dir / "theory" / "checkpoints.csv")
    assert np.isfinite(saved[["c", "relative_c", "loss", "beta_smoothness"]]).all().all()
    minibatch = pd.read_csv(run_dir / "theory" / "minibatch.csv")
    assert len(minibatch) == 3 * 2 * 2 * 3  # epochs x modes x batch sizes x batches
    layers = pd.read_csv(run_dir / "theory" / "layers.csv")
    # ResNet-8: stem, 3 blocks x 2 convs, 2 projection shortcuts, classifier
    assert layers.groupby("epoch").size().tolist() == [10, 10, 10]
    assert not (run_dir / "theory.tmp").exists()


def test_theory_claims_on_known_answers():
    checkpoints = pd.DataFrame([
        dict(run_id=v, dataset="cifar10", model="ResNet-20", variant=v, epoch=e, c=c * (e + 1),
             relative_c=c, loss_range=c, beta_smoothness=c, full_gradient_norm=1.0, gradient_change=c)
        for v, c in (("BN", 1.0), ("no BN", 3.0)) for e in (0, 1, 2)])
    minibatch = pd.DataFrame([
        dict(run_id=v, dataset="cifar10", model="ResNet-20", variant=v, epoch=2, training=t,
             batch_size=b, batch=k, power=10 / b * (1 + 0.01 * k), predicted=10 / b)
        for v in ("BN", "no BN") for t in (False, True) for b in (8, 32) for k in range(-2, 3)])
    from test_analysis import synthetic_noise
    verdicts = analysis.theory_claims(checkpoints, minibatch, synthetic_noise()).set_index("id").verdict
    assert verdicts["eq7-noise-power"] == "supported"  # ratio 1 within the CI everywhere
    assert verdicts["eq7-one-over-batch"] == "supported"  # power exactly 10 / |B|: slope -1
    assert verdicts["eq7-with-batch-statistics"] == "supported"  # batch statistics change nothing here
    for claim in ("bn-lowers-c", "bn-lowers-relative-c", "bn-smooths-loss", "bn-lowers-beta"):
        assert verdicts[claim] == "supported", "BN has lower C, relative C, loss range, beta"
    assert verdicts["bn-lowers-sgd-noise"] == "inconclusive", "same SGD noise power with and without BN"
    assert verdicts["more-noise-more-robust"] == "supported", "the lower-C BN model is the less robust one"
