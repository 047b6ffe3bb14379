"""Preferred inputs parametrised by their spatial spectrum, with random roll, zoom and rotation
at every step (transformation robustness, as Lucid and Xplique do); batched like the pixel ascent."""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from fer import stopping
from fer.explain.filters.common import FilterImages, _filters, _scale, _start_images, adam_step, filter_images, own_filter_activation
from fer.explain.filters.layers import _LOCK, _Extractor, _extractor


@dataclasses.dataclass(frozen=True)
class FourierSettings:
    """Preferred inputs parametrised by their spatial spectrum: each image is
    255 x sigmoid(irfft2(spectrum x 1/frequency)), so the ascent moves low frequencies as easily
    as high ones (pixel-space steps mostly add high-frequency noise, which the TV penalty then
    fights); every step sees the image rolled, scaled and rotated at random, so only patterns that
    survive small moves grow. No colour decorrelation: the faces are grayscale."""

    steps: int = 100
    learning_rate: float = 0.05  # Adam, on the spectrum's coefficients
    jitter: int = 2  # pixels
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    rotate: float = 5.0  # degrees, random in [-rotate, rotate]
    decay: float = 1.0  # spectrum scaling 1 / f**decay
    seed: int = 0

    def key(self) -> tuple:
        return dataclasses.astuple(self)


def _spectrum_scale(decay: float) -> np.ndarray:
    fy = np.fft.fftfreq(48)[:, None]
    fx = np.fft.rfftfreq(48)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return (1.0 / np.maximum(f, 1.0 / 48) ** decay).astype(np.float32)


def _transforms(settings: FourierSettings) -> np.ndarray:
    """(steps, 8) projective transforms (output -> input pixel maps) about the image centre."""
    rng = np.random.default_rng(settings.seed + 7)
    out = []
    c = 23.5
    for _ in range(max(1, settings.steps)):
        s = 1.0 + rng.uniform(-settings.scale, settings.scale)
        a = np.deg2rad(rng.uniform(-settings.rotate, settings.rotate))
        dx, dy = rng.integers(-settings.jitter, settings.jitter + 1, size=2)
        cos, sin = np.cos(a) / s, np.sin(a) / s
        # input = R/s (output - centre) + centre - shift
        out.append([cos, -sin, c - cos * c + sin * c - dx, sin, cos, c - sin * c - cos * c - dy, 0.0, 0.0])
    return np.asarray(out, np.float32)


def _build_fourier(ex: _Extractor):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, 48, 25), tf.float32), tf.TensorSpec((None, 48, 25), tf.float32),
                                  tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 8), tf.float32),
                                  tf.TensorSpec((48, 25), tf.float32), tf.TensorSpec((), tf.float32),
                                  tf.TensorSpec((), tf.float32)])
    def ascent(re0, im0, filters, transforms, spectrum_scale, lr, scale):
        re, im = re0, im0
        mr, mi, vr, vi = tf.zeros_like(re0), tf.zeros_like(im0), tf.zeros_like(re0), tf.zeros_like(im0)
        for t in tf.range(tf.shape(transforms)[0]):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([re, im])
                x = _fourier_image(re, im, spectrum_scale)  # (F,48,48,1) in 0..255
                n = tf.shape(x)[0]
                xt = tf.raw_ops.ImageProjectiveTransformV3(
                    images=x, transforms=tf.tile(transforms[t][None], [n, 1]), output_shape=tf.constant([48, 48]),
                    fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
                objective = tf.reduce_sum(own_filter_activation(ex, xt, filters) / scale)
            gr, gi = tape.gradient(objective, [re, im])
            re, mr, vr = adam_step(re, gr, mr, vr, t, lr)
            im, mi, vi = adam_step(im, gi, mi, vi, t, lr)
        return _fourier_image(re, im, spectrum_scale)

    return ascent


def _fourier_image(re, im, spectrum_scale):
    import tensorflow as tf

    z = tf.signal.irfft2d(tf.complex(re * spectrum_scale, im * spectrum_scale), fft_length=[48, 48]) * 48.0
    return (255.0 * tf.sigmoid(z))[..., None]


def visualize_filters_fourier(model, layer: str, filters: Optional[Sequence[int]] = None,
                              settings: FourierSettings = FourierSettings(), batch_size: int = 32) -> FilterImages:
    """Every filter's (or `filters`') preferred input, Fourier-parametrised (see FourierSettings),
    batched as `visualize_filters`: image i of a batch ascends filter i's mean activation."""
    import time

    import tensorflow as tf

    ex = _extractor(model, layer)
    f = _filters(ex, filters)
    start = time.perf_counter()
    with _LOCK:
        if getattr(ex, "fourier", None) is None:
            ex.fourier = _build_fourier(ex)
    rng = np.random.default_rng(settings.seed)
    re0 = (0.01 * rng.standard_normal((len(f), 48, 25))).astype(np.float32)
    im0 = (0.01 * rng.standard_normal((len(f), 48, 25))).astype(np.float32)
    scale = _scale(ex, _start_images(max(1, min(len(f), 8)), settings.seed))
    transforms = tf.constant(_transforms(settings))
    spectrum = tf.constant(_spectrum_scale(settings.decay))
    out = []
    for i in range(0, len(f), batch_size):
        stopping.check()
        sl = slice(i, i + batch_size)
        if settings.steps <= 0:
            out.append(np.asarray(_fourier_image(tf.constant(re0[sl]), tf.constant(im0[sl]), spectrum)))
            continue
        out.append(np.asarray(ex.fourier(tf.constant(re0[sl]), tf.constant(im0[sl]), tf.constant(f[sl], tf.int32),
                                         transforms, spectrum, tf.constant(settings.learning_rate, tf.float32),
                                         tf.constant(scale, tf.float32))))
    return filter_images(model, layer, ex, f, out, start)
