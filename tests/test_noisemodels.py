"""Each noise model's statistics against its equations, quantisation, and the spec / settings checks."""
import numpy as np
import pytest

from analognoise.noisemodels import NOISE_MODELS, Reference, make_noise_model
from analognoise.noisemodels.pcm import PCM_TIMES
from analognoise.noisemodels.quantize import quantize

N = 200_000


@pytest.fixture(scope="module")
def weights():
    """A layer-like tensor: Laplace-shaped, a few large weights, so max|W| >> std(W)."""
    return np.random.default_rng(0).laplace(0, 0.05, N).astype(np.float32)


def test_every_model_keeps_shape_and_dtype_and_is_seeded(weights):
    reference = Reference.of(weights)
    for name, level in (("paper", 0.1), ("additive-max", 0.02), ("multiplicative", 0.1), ("pcm", 3600.0)):
        model = make_noise_model(name)
        a = model.noisy(weights, reference, level, np.random.default_rng(1))
        b = model.noisy(weights, reference, level, np.random.default_rng(1))
        c = model.noisy(weights, reference, level, np.random.default_rng(2))
        assert a.shape == weights.shape and a.dtype == np.float32, name
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), name


@pytest.mark.parametrize("name, scale", [("paper", "std"), ("additive-max", "max_abs")])
def test_additive_noise_std_is_eta_times_the_reference_statistic(weights, name, scale):
    reference = Reference.of(weights)
    eta = 0.1
    noise = make_noise_model(name).noisy(weights, reference, eta, np.random.default_rng(3)) - weights
    expected = eta * getattr(reference, scale)
    assert noise.std() == pytest.approx(expected, rel=0.01)
    assert abs(noise.mean()) < 5 * expected / np.sqrt(N)


def test_rms_relative_noise_is_the_papers_on_zero_mean_weights_and_scales_with_a_mean():
    """additive-rms: sigma = eta * rms(W). A zero-mean tensor gets the paper's sigma; gamma-like
    values near 1 with std 0.1 get ~10x the paper's sigma (the convention test's point)."""
    rng = np.random.default_rng(4)
    centred = rng.normal(0.0, 0.05, N).astype(np.float32)
    gamma_like = rng.normal(1.0, 0.1, N).astype(np.float32)
    for values, ratio in ((centred, 1.0), (gamma_like, np.sqrt(1 + 0.1 ** 2) / 0.1)):
        reference = Reference.of(values)
        assert reference.rms == pytest.approx(np.sqrt(np.mean(values.astype(float) ** 2)), rel=1e-6)
        noise = make_noise_model("additive-rms").noisy(values, reference, 0.1, np.random.default_rng(5)) - values
        paper = make_noise_model("paper").noisy(values, reference, 0.1, np.random.default_rng(5)) - values
        assert noise.std() / paper.std() == pytest.approx(ratio, rel=0.02)
    assert Reference.of(np.array([], np.float32)).rms == 0.0


def test_max_relative_noise_is_larger_by_max_over_std(weights):
    reference = Reference.of(weights)
    assert reference.max_abs / reference.std > 5  # why the conventions differ so much
    paper = make_noise_model("paper").noisy(weights, reference, 0.1, np.random.default_rng(4)) - weights
    relative_to_max = make_noise_model("additive-max").noisy(weights, reference, 0.1, np.random.default_rng(4)) - weights
    np.testing.assert_allclose(relative_to_max, paper * (reference.max_abs / reference.std), rtol=1e-4, atol=1e-7)


def test_multiplicative_noise_is_proportional_to_each_weight(weights):
    eta = 0.2
    noisy = make_noise_model("multiplicative").noisy(weights, Reference.of(weights), eta, np.random.default_rng(5))
    relative = (noisy / weights)[weights != 0] - 1
    assert relative.std() == pytest.approx(eta, rel=0.01)
    zero = np.zeros(10, np.float32)
    assert not make_noise_model("multiplicative").noisy(zero, Reference(0.0, 0.0), eta, np.random.default_rng(5)).any()


def test_pcm_programming_noise_std_follows_the_polynomial():
    pcm = make_noise_model({"name": "pcm", "g_max": 25.0})
    rng = np.random.default_rng(6)
    for g in (2.0, 5.0, 12.5, 20.0, 25.0):  # at least 4 sigma above 0: clipping negligible
        programmed, _ = pcm.conductances(np.full(N, g, np.float32), 0.0, rng)
        sigma = 0.26348 + 1.9650 * (g / 25) - 1.1731 * (g / 25) ** 2
        assert programmed.std() == pytest.approx(sigma, rel=0.01), g
        assert programmed.mean() == pytest.approx(g, abs=5 * sigma / np.sqrt(N))
    doubled = make_noise_model({"name": "pcm", "g_max": 50.0})  # the fit scales with g_max
    assert doubled.programming_sigma(np.float32(25.0)) == pytest.approx(2 * pcm.programming_sigma(np.float32(12.5)))


def test_pcm_drift_exponent_is_recovered_from_samples():
    """Without programming and read noise, log g(t) / g_prog over log((t + t0) / t0) gives each
    device's nu; their mean and spread match the model's (at g = g_max / 2 both are clipped:
    mean 0.049, std 0.008), and every device keeps its exponent over time."""
    pcm = make_noise_model({"name": "pcm", "programming_scale": 0.0, "read_scale": 0.0})
    target = np.full(N, 12.5, np.float32)
    exponents = []
    for t in (3600.0, 31_536_000.0):
        programmed, now = pcm.conductances(target, t, np.random.default_rng(7))
        exponents.append(-np.log(now / programmed) / np.log((t + pcm.t0) / pcm.t0))
    assert exponents[0].mean() == pytest.approx(0.049, rel=0.01)
    assert exponents[0].std() == pytest.approx(0.008, rel=0.03)
    np.testing.assert_allclose(exponents[0], exponents[1], rtol=1e-3)
    low = pcm.drift_exponents(np.full(N, 0.25, np.float32), np.zeros(N, np.float32))  # g / g_max = 1%
    assert low.mean() == pytest.approx(min(0.1, -0.0155 * np.log(0.01) + 0.0244), rel=1e-4)


def test_pcm_read_noise_grows_with_time_as_the_1_over_f_law():
    pcm = make_noise_model({"name": "pcm", "programming_scale": 0.0, "drift_scale": 0.0})
    target = np.full(N, 12.5, np.float32)
    spreads = []
    for t in (1.0, 86_400.0, 31_536_000.0):
        programmed, now = pcm.conductances(target, t, np.random.default_rng(8))
        spread = (now / programmed - 1).std()
        assert spread == pytest.approx(float(pcm.read_sigma(np.float32(12.5), t)), rel=0.01)
        spreads.append(spread)
    assert spreads[0] < spreads[1] < spreads[2]


def test_pcm_conductances_are_never_negative_and_time_zero_is_programming_only():
    pcm = make_noise_model("pcm")
    target = np.linspace(0, 25, N, dtype=np.float32)
    programmed, at_zero = pcm.conductances(target, 0.0, np.random.default_rng(9))
    assert (programmed >= 0).all() and (programmed == 0).any()  # clipped at zero
    np.testing.assert_array_equal(programmed, at_zero)
    _, later = pcm.conductances(target, 3600.0, np.random.default_rng(9))
    assert (later >= 0).all()


def test_pcm_drift_compensation_restores_the_mean_weight_magnitude(weights):
    reference = Reference.of(weights)
    drift_only = dict(name="pcm", programming_scale=0.0, read_scale=0.0)
    year = 31_536_000.0
    plain = make_noise_model(drift_only).noisy(weights, reference, year, np.random.default_rng(10))
    compensated = make_noise_model({**drift_only, "compensation": True}).noisy(weights, reference, year,
                                                                             np.random.default_rng(10))
    shrink = np.abs(plain).mean() / np.abs(weights).mean()
    decades = (year + 20) / 20  # small conductances drift faster: nu from 0.049 up to 0.1
    assert decades ** -0.1 < shrink < decades ** -0.049  # about 0.45 after a year
    assert np.abs(compensated).mean() == pytest.approx(np.abs(weights).mean(), rel=1e-4)
    np.testing.assert_allclose(compensated / plain, (compensated / plain)[np.abs(plain) > 0][0], rtol=1e-4)


def test_pcm_maps_max_abs_weight_to_g_max(weights):
    """The mapping round-trips: with every noise term off, the weights come back."""
    quiet = make_noise_model(dict(name="pcm", programming_scale=0.0, read_scale=0.0, drift_scale=0.0))
    assert quiet.is_deterministic(3600.0) and not make_noise_model("pcm").is_deterministic(0.0)
    np.testing.assert_allclose(quiet.noisy(weights, Reference.of(weights), 3600.0, np.random.default_rng(0)),
                               weights, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quantization_levels_and_error(weights, bits):
    m = float(np.abs(weights).max())
    q = quantize(weights, m, bits)
    step = m / (2 ** (bits - 1) - 1)
    assert len(np.unique(q)) <= 2 ** bits - 1
    assert np.abs(q).max() == pytest.approx(m)
    assert np.abs(q - weights).max() <= step / 2 + 1e-6
    assert set(np.unique(quantize(np.array([-1, 0.2, 1], np.float32), 1.0, 1))) == {-1.0, 1.0}


def test_quantization_composes_with_any_model(weights):
    reference = Reference.of(weights)
    quantized_only = make_noise_model({"name": "paper", "bits": 4})
    assert quantized_only.is_deterministic(0) and not quantized_only.is_identity(0)
    np.testing.assert_array_equal(quantized_only.noisy(weights, reference, 0.0, np.random.default_rng(0)),
                                  quantize(weights, reference.max_abs, 4))
    with_pcm = make_noise_model({"name": "pcm", "bits": 4, "programming_scale": 0.0, "read_scale": 0.0,
                                 "drift_scale": 0.0})
    np.testing.assert_allclose(with_pcm.noisy(weights, reference, 1.0, np.random.default_rng(0)),
                               quantize(weights, reference.max_abs, 4), atol=1e-6)


def test_specs_and_their_errors():
    assert set(NOISE_MODELS) == {"paper", "additive-max", "additive-rms", "multiplicative", "pcm"}
    assert make_noise_model(None).name == "paper"
    model = make_noise_model({"name": "pcm", "compensation": True, "bits": 8})
    assert make_noise_model(model.settings()) == model
    assert model.label() == "pcm (bits=8, compensation=True)"
    assert model.check_levels(list(PCM_TIMES)) == sorted(PCM_TIMES)
    with pytest.raises(ValueError, match="choose one of paper, additive-max"):
        make_noise_model("gaussian")
    with pytest.raises(ValueError, match="has no setting drift.*valid settings are bits"):
        make_noise_model({"name": "paper", "drift": 1})
    with pytest.raises(ValueError, match="bits=0"):
        make_noise_model({"name": "paper", "bits": 0})
    with pytest.raises(ValueError, match="g_max must be > 0"):
        make_noise_model({"name": "pcm", "g_max": 0})
    with pytest.raises(ValueError, match=r"level \(time_s, in s after programming\) must be finite and >= 0"):
        make_noise_model("pcm").check_levels([-1])
    with pytest.raises(ValueError, match="give a name"):
        make_noise_model(["pcm"])
