"""Preferred inputs that are what they claim: where a real face drives a filter harder than the
image an engine found, the ascent goes on until the image wins (or says that it could not).

    shown = sharpen(model, layer, found, rival_activation, rival_faces)

The engines' regularisers (total variation, L2 towards grey, jitter, the Fourier space's decay)
keep the images readable, and in early layers they cost the filter more than a real face's sharp
edges give it: a face of the test split then beats the "preferred" input. Two steps, each only for
the filters whose image still loses, both the same Adam ascent on the same objective as the
engines (the filter's mean activation), with no regulariser and no jitter:

1. the engine's image, continued (`CONTINUED`): the same pattern with its contrast pushed;
2. the winning test face, continued (`FROM_FACE`): what the filter would have more of in the face
   that drives it most. It starts above every test face, and the ascent keeps its best step, so
   it can only end below where the filter's gradient is zero there.

A filter for which neither wins keeps its engine image, marked `ENGINE`, and the pages say so.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fer.explain.filters.common import FilterImages, _scale, own_filter_activation
from fer.explain.filters.layers import _LOCK, _Extractor, _extractor, filter_activation

ENGINE, CONTINUED, FROM_FACE = 0, 1, 2
ORIGINS = {ENGINE: "the engine's image", CONTINUED: "the engine's image, continued without regularisers",
           FROM_FACE: "the test face that beat it, continued"}
STEPS, LEARNING_RATE = 100, 4.0  # Adam, grey levels: the engines' defaults


def _build_plain_ascent(ex: _Extractor):
    """The filters' own mean activations ascended with nothing else: (x0, filters, steps, lr,
    scale) -> each image's best step (the objective is not monotone under Adam)."""
    import tensorflow as tf

    from fer.explain.filters.common import adam_step

    @tf.function(input_signature=[tf.TensorSpec((None, 48, 48, 1), tf.float32), tf.TensorSpec((None,), tf.int32),
                                  tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32),
                                  tf.TensorSpec((), tf.float32)])
    def ascent(x0, filters, steps, lr, scale):
        x, m, v = x0, tf.zeros_like(x0), tf.zeros_like(x0)
        best, best_act = x0, own_filter_activation(ex, x0, filters)
        for t in tf.range(steps):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                act = own_filter_activation(ex, x, filters)
                objective = tf.reduce_sum(act / scale)
            best = tf.where((act > best_act)[:, None, None, None], x, best)
            best_act = tf.maximum(act, best_act)
            x, m, v = adam_step(x, tape.gradient(objective, x), m, v, t, lr)
            x = tf.clip_by_value(x, 0.0, 255.0)
        act = own_filter_activation(ex, x, filters)
        return tf.where((act > best_act)[:, None, None, None], x, best)

    return ascent


def continue_ascent(model, layer: str, images: np.ndarray, filters: np.ndarray, steps: int = STEPS,
                    learning_rate: float = LEARNING_RATE, batch_size: int = 32) -> np.ndarray:
    """Image i (float (n,48,48) in 0..255) ascended on filter filters[i]'s mean activation alone;
    each image's best step, never below where it started."""
    import tensorflow as tf

    from fer import stopping

    ex = _extractor(model, layer)
    with _LOCK:
        if getattr(ex, "plain_ascent", None) is None:
            ex.plain_ascent = _build_plain_ascent(ex)
    x = np.asarray(images, np.float32).reshape(-1, 48, 48, 1)
    f = np.asarray(filters, np.int32)
    if not len(x):
        return x[..., 0]
    scale = _scale(ex, x)
    out = []
    for i in range(0, len(x), batch_size):
        stopping.check()
        out.append(np.asarray(ex.plain_ascent(tf.constant(x[i:i + batch_size]), tf.constant(f[i:i + batch_size]),
                                              tf.constant(int(steps)), tf.constant(float(learning_rate)),
                                              tf.constant(scale, tf.float32))))
    return np.concatenate(out)[..., 0]


def sharpen(model, layer: str, found: FilterImages, rival_activation, rival_faces: Optional[np.ndarray] = None,
            steps: int = STEPS) -> FilterImages:
    """`found` (an engine's result for `layer`) with each filter's image that does not beat
    `rival_activation[filter]` (the best test face's, per filter of the layer) replaced as the
    module says; `rival_faces[filter]` (48,48) is that face (the second step needs it). The
    result's `origin` says, per image, which of `ORIGINS` it is."""
    f = np.asarray(found.filters)
    rivals = np.asarray(rival_activation, np.float32)[f]
    images, act = found.images.astype(np.float32).copy(), found.activation.astype(np.float32).copy()
    origin = np.full(len(f), ENGINE, np.int8)
    starts = [(CONTINUED, lambda lose: images[lose])]
    if rival_faces is not None:
        starts.append((FROM_FACE, lambda lose: np.asarray(rival_faces, np.float32)[f[lose]]))
    for kind, start in starts:
        lose = np.flatnonzero(act <= rivals)
        if not len(lose):
            break
        tried = continue_ascent(model, layer, start(lose), f[lose], steps)
        tried_act = filter_activation(model, layer, tried, f[lose])
        won = tried_act > rivals[lose]
        images[lose[won]], act[lose[won]], origin[lose[won]] = tried[won], tried_act[won], kind
    return dataclasses.replace(found, images=images, activation=act, origin=origin, rival_activation=rivals)


def against_faces(model, layer: str, found: FilterImages, exemplars, faces) -> FilterImages:
    """`sharpen` against the faces that drive each filter most: `exemplars` ranks `faces` (an
    `aggregate.Exemplars` of this layer, highest first)."""
    best = np.asarray(exemplars.indices)[:, 0]
    return sharpen(model, layer, found, np.asarray(exemplars.activations)[:, 0], np.asarray(faces)[best])
