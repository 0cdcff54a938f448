"""Noise models: how one noise trial turns a weight tensor's clean values into the values an
analog device holds, behind one interface, selectable by name from notebooks and study configs.

Every model maps ``(clean values, reference statistics, level, generator)`` to noisy values of
the same shape (float32). The *reference* holds the statistics that set the noise scale: of the
tensor itself (``scale="tensor"``) or pooled over the selected tensors of its layer
(``scale="layer"``). The *level* is the one number a grid sweeps; what it means is the model's
``level_name`` and ``level_unit``:

=================  ==========================================  ==========================
name               noisy weight w'                             level
=================  ==========================================  ==========================
``paper``          w + N(0, (eta std(W))^2)   (eq. 10-12)      eta, fraction of std(W)
``additive-max``   w + N(0, (eta max|W|)^2)                    eta, fraction of max|W|
``additive-rms``   w + N(0, (eta rms(W))^2)                    eta, fraction of rms(W)
``multiplicative`` w (1 + N(0, eta^2)), i.e. sigma = eta |w|    eta, fraction of |w|
``pcm``            PCM device model (see :mod:`.pcm`)          seconds after programming
=================  ==========================================  ==========================

Any model takes ``bits``: the clean weights are first quantised to that many bits
(:func:`.quantize.quantize`, symmetric, max|W| of the reference maps to the largest level), then
the model's noise is applied. Which tensors get noise (``targets``) is chosen separately by the
engine (:class:`analognoise.noise.WeightNoise`) and is orthogonal to the model.

A spec is a name (``"pcm"``), a dict (``{"name": "pcm", "compensation": True}``) or a model;
:func:`make_noise_model` turns any of them into a model, checking every setting.
"""
from __future__ import annotations

from .additive import AdditiveMax, AdditiveRms, AdditiveStd, Multiplicative
from .base import NoiseModel, Reference
from .pcm import PCMLike

NOISE_MODELS: dict[str, type[NoiseModel]] = {
    cls.name: cls for cls in (AdditiveStd, AdditiveMax, AdditiveRms, Multiplicative, PCMLike)
}
DEFAULT_NOISE_MODEL = AdditiveStd.name


def make_noise_model(spec=None) -> NoiseModel:
    """A noise model from a spec: None (the paper's), a registered name, a dict with ``name``
    and the model's settings, or a :class:`NoiseModel` (returned as is). Raises ValueError
    naming the bad name or setting and the valid ones."""
    if isinstance(spec, NoiseModel):
        return spec
    if spec is None:
        spec = {"name": DEFAULT_NOISE_MODEL}
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"noise_model={spec!r}: give a name ({', '.join(NOISE_MODELS)}) or a "
                         "dict with 'name' and settings, e.g. {'name': 'pcm', 'compensation': True}")
    settings = dict(spec)
    name = settings.pop("name")
    if name not in NOISE_MODELS:
        raise ValueError(f"noise_model name {name!r} is unknown: choose one of {', '.join(NOISE_MODELS)}")
    return NOISE_MODELS[name].from_settings(settings)


__all__ = ["NOISE_MODELS", "DEFAULT_NOISE_MODEL", "NoiseModel", "Reference", "make_noise_model",
           "AdditiveStd", "AdditiveMax", "AdditiveRms", "Multiplicative", "PCMLike"]
