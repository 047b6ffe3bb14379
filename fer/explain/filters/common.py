"""What every preferred-input engine shares: the settings' start images and jitter, the
regularisers, the objective of one filter per image, one Adam step, and the result."""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np

from fer.explain.filters.layers import _Extractor, filter_activation

GRAY = 127.5
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


@dataclasses.dataclass
class FilterImages:
    images: np.ndarray  # float32 (F,48,48) in 0..255
    filters: np.ndarray  # int (F,) channel index of each image
    activation: np.ndarray  # float32 (F,) each filter's mean activation on its final image
    gray_activation: np.ndarray  # float32 (F,) the same filter's activation on a mean-grey face
    seconds: float = 0.0
    analytic: Optional[np.ndarray] = None  # bool (F,): the image is the exact optimum (`affine_optimum`)
    origin: Optional[np.ndarray] = None  # int (F,): `sharpen.ORIGINS`' key per image; None: not checked against faces
    rival_activation: Optional[np.ndarray] = None  # float32 (F,): the best test face's activation of each filter


def _tv(x):
    """Mean absolute difference of neighbouring pixels, face scaled to [0,1] (per image)."""
    import tensorflow as tf

    x = x / 255.0
    dy = tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
    dx = tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
    return dx + dy


def _l2(x):
    """Mean squared distance from mean grey, face scaled to [-1,1] (per image)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.square((x - GRAY) / GRAY), axis=(1, 2, 3))


def _start_images(n: int, seed: int) -> np.ndarray:
    """Mean grey plus faint noise (std 8 grey levels): deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    return np.clip(GRAY + 8.0 * rng.standard_normal((n, 48, 48, 1)), 0, 255).astype(np.float32)


def _shifts(steps: int, jitter: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    j = max(0, int(jitter))
    return rng.integers(-j, j + 1, size=(max(1, steps), 2)).astype(np.int32)


def _scale(ex: _Extractor, x0: np.ndarray) -> float:
    """Mean |activation| of the layer on the start images: divides every objective."""
    return float(np.mean(np.abs(np.asarray(ex.forward(x0))))) + 1e-6


def _filters(ex: _Extractor, filters) -> np.ndarray:
    f = np.arange(ex.channels) if filters is None else np.asarray(list(filters), dtype=np.int64)
    if f.size and (f.min() < 0 or f.max() >= ex.channels):
        raise ValueError(f"filter indices must be in 0..{ex.channels - 1}")
    return f


def _gray_activation(ex: _Extractor, f: np.ndarray) -> np.ndarray:
    gray = np.full((1, 48, 48, 1), GRAY, np.float32)
    return np.asarray(ex.forward(gray)).mean(axis=(1, 2))[0, f].astype(np.float32)


def adam_step(param, grad, m, v, t, lr):
    """One Adam ascent step (Kingma & Ba 2015) at step `t` (0-based): (param, m, v) updated."""
    import tensorflow as tf

    b1, b2 = ADAM_BETAS
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    step = tf.cast(t + 1, tf.float32)
    return param + lr * (m / (1 - tf.pow(b1, step))) / (tf.sqrt(v / (1 - tf.pow(b2, step))) + ADAM_EPS), m, v


def own_filter_activation(ex: _Extractor, x, filters):
    """(F,) image i's mean activation of filter filters[i]: the objective of every engine."""
    import tensorflow as tf

    if ex.pre is not None:
        return tf.reduce_mean(ex.single_filter_output(x, filters), axis=[1, 2])
    a = tf.transpose(ex.sub(x, training=False), [0, 3, 1, 2])  # (F,C,h,w)
    return tf.reduce_mean(tf.gather(a, filters, axis=1, batch_dims=1), axis=[1, 2])


def _is_affine(ex: _Extractor) -> bool:
    """Whether the layer's mean activations are affine in the face (a first convolution, whatever
    rescaling or BatchNorm comes before it): checked on two random faces and their midpoint."""
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype(np.float32)
    a = np.asarray(ex.forward(np.concatenate([x, x.mean(0, keepdims=True)]))).astype(np.float64).mean(axis=(1, 2))
    return bool(np.all(np.abs(a[2] - (a[0] + a[1]) / 2) <= 1e-4 * (np.abs(a).max() + 1.0)))


def affine_optimum(ex: _Extractor, f: np.ndarray) -> Optional[np.ndarray]:
    """Each filter's exact preferred input (F,48,48,1) where the layer is affine in the face: a
    linear function of a face bounded to 0..255 is largest at 255 where its gradient is positive
    and 0 elsewhere, which no ascent needs to find. None for any other layer."""
    import tensorflow as tf

    if not len(f) or not _is_affine(ex):
        return None
    x = tf.constant(np.full((len(f), 48, 48, 1), GRAY, np.float32))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        total = tf.reduce_sum(own_filter_activation(ex, x, tf.constant(f, tf.int32)))
    grad = np.asarray(tape.gradient(total, x))
    return np.where(grad > 0, 255.0, 0.0).astype(np.float32)


def filter_images(model, layer: str, ex: _Extractor, f: np.ndarray, batches: list, started: float) -> FilterImages:
    """The engines' result: the images (batches of (n,48,48,1)) with each filter's activation on
    its own image and on a mean-grey face; on an affine layer, each filter's exact optimum where
    it beats the engine's image (always, but for round-off)."""
    images = np.concatenate(batches) if batches else np.zeros((0, 48, 48, 1), np.float32)
    act = filter_activation(model, layer, images, f) if len(f) else np.zeros(0, np.float32)
    analytic = np.zeros(len(f), bool)
    optimum = affine_optimum(ex, f)
    if optimum is not None:
        analytic = filter_activation(model, layer, optimum, f) >= act
        images = np.where(analytic[:, None, None, None], optimum, images)
        act = filter_activation(model, layer, images, f)
    return FilterImages(images=images[..., 0].astype(np.float32), filters=f, activation=act.astype(np.float32),
                        gray_activation=_gray_activation(ex, f), seconds=time.perf_counter() - started,
                        analytic=analytic)
