"""The pixel-space ascent with tf-keras-vis' ActivationMaximization, one filter per call (the
library's usual loop): the same objective, regularisers, optimiser and start images, as a check."""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from fer.explain.filters.common import FilterImages, _filters, _l2, _scale, _shifts, _start_images, _tv, filter_images
from fer.explain.filters.layers import _extractor
from fer.explain.filters.pixel import AscentSettings

# tf-keras-vis passes a single input as a one-element list; Keras 3 warns on every step
warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match the expected structure",
                        category=UserWarning)


def _tfkv_pieces():
    from tf_keras_vis.activation_maximization.input_modifiers import InputModifier
    from tf_keras_vis.activation_maximization.regularizers import Regularizer

    class SeededJitter(InputModifier):
        """tf-keras-vis' Jitter (a random roll each step), with a seeded list of shifts."""

        def __init__(self, shifts):
            self.shifts, self.i = shifts, 0

        def __call__(self, seed_input):
            import tensorflow as tf

            s = self.shifts[self.i % len(self.shifts)]
            self.i += 1
            return tf.roll(seed_input, shift=(int(s[0]), int(s[1])), axis=(1, 2))

    class Penalty(Regularizer):
        """One of the batched ascent's penalties (`_tv`, `_l2`) as a tf-keras-vis regulariser."""

        def __init__(self, name, penalty, weight):
            super().__init__(name)
            self.penalty, self.weight = penalty, float(weight)

        def __call__(self, x):
            return self.weight * self.penalty(x)

    return SeededJitter, lambda w: Penalty("TotalVariation[0,1]", _tv, w), lambda w: Penalty("L2[mean grey]", _l2, w)


def visualize_filters_tfkv(model, layer: str, filters: Optional[Sequence[int]] = None,
                           settings: AscentSettings = AscentSettings()) -> FilterImages:
    """The same ascent with tf-keras-vis' ActivationMaximization, one filter per call.

    Note tf-keras-vis rolls the image itself for jitter (the shift persists), while the batched
    version rolls only what the model sees; both are jitter regularisation.
    """
    import time

    import keras
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

    from fer.mirror import network_of

    SeededJitter, TV, L2 = _tfkv_pieces()
    ex = _extractor(model, layer)
    f = _filters(ex, filters)
    start = time.perf_counter()
    # ExtractIntermediateLayer builds a new model from the shared one's graph: nothing is mutated
    am = ActivationMaximization(network_of(model), model_modifier=ExtractIntermediateLayer(layer), clone=False)
    x0 = _start_images(len(f), settings.seed)
    scale = _scale(ex, x0)
    shifts = _shifts(settings.steps, settings.jitter, settings.seed)
    out = []
    for i, filt in enumerate(f):
        if settings.steps <= 0:
            out.append(x0[i:i + 1])
            continue
        score = (lambda k: lambda output: tf.reduce_mean(output[..., k], axis=(1, 2)) / scale)(int(filt))
        img = am(score, seed_input=x0[i:i + 1], input_range=(0.0, 255.0),
                 input_modifiers=[SeededJitter(shifts)], regularizers=[TV(settings.tv_weight), L2(settings.l2_weight)],
                 steps=settings.steps, optimizer=keras.optimizers.Adam(settings.learning_rate))
        out.append(np.asarray(img).reshape(1, 48, 48, 1))
    return filter_images(model, layer, ex, f, out, start)
