"""BatchNorm statistics: re-estimate them on clean faces (after training, pruning, each epoch).

Used by training (precise BN before every validation, recalibration when it scores better)
and by compression (after pruning, after a student's short fit).
"""
from __future__ import annotations

import numpy as np


def all_layers(model):
    """Every leaf layer, nested models unrolled."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from all_layers(layer)
        else:
            yield layer


def recalibrate_batchnorm(model, images, batches: int = 10, batch_size: int = 128, seed: int = 0):
    """Re-estimate every BatchNormalization layer's moving mean/variance on `images`.

    After a short training (or pruning), the moving averages (momentum 0.99) still remember the
    old activations and the model scores far below what its weights can do; this replaces them
    with the average of `batches` batch statistics (forward passes only, dropout off, no
    weight update). Returns the model (changed in place).
    """
    import keras

    from fer.evaluate import as_model_input

    layers = list(all_layers(model))
    bns = [l for l in layers if isinstance(l, keras.layers.BatchNormalization) and l.trainable]
    if not bns or images is None or len(images) == 0:
        return model
    drops = [l for l in layers if isinstance(l, keras.layers.Dropout)]
    x = as_model_input(images)
    order = np.random.default_rng(seed).permutation(len(x))
    n = max(1, min(batches, int(np.ceil(len(x) / batch_size))))
    momenta, rates = [l.momentum for l in bns], [l.rate for l in drops]
    try:
        for l in drops:
            l.rate = 0.0
        for k in range(n):
            for l in bns:
                l.momentum = k / (k + 1)  # a running average of the batch statistics
            model(x[order[k * batch_size : (k + 1) * batch_size]], training=True)
    finally:
        for l, m in zip(bns, momenta):
            l.momentum = m
        for l, r in zip(drops, rates):
            l.rate = r
    return model


BN_BATCHES, BN_BATCH_SIZE = 16, 128


def has_batchnorm(model) -> bool:
    return any(type(layer).__name__ == "BatchNormalization" for layer in all_layers(model))


def bn_sample(x_train, seed):
    """The 16 x 128 clean training faces BatchNorm statistics come from (the same ones for a seed)."""
    return x_train[np.random.default_rng(seed).permutation(len(x_train))[: BN_BATCHES * BN_BATCH_SIZE]]


def _recalibrate(model, sample, seed):
    recalibrate_batchnorm(model, sample, batches=BN_BATCHES, batch_size=BN_BATCH_SIZE, seed=seed)


def precise_batchnorm_callback(model, x_train, seed):
    """Before every validation, re-estimate BatchNorm statistics on clean training faces
    ("precise BN", Wu & Johnson 2021). The moving averages follow the augmented training
    batches, so without it the per-epoch val accuracy reads several points low and jumps
    about, and the best epoch is picked on noise. Training itself uses batch statistics, so
    this changes only what validation (and the saved checkpoints) see."""
    import keras

    sample = bn_sample(x_train, seed)

    class PreciseBatchNorm(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            _recalibrate(model, sample, seed)

    return PreciseBatchNorm()


def recalibrate_if_better(model, x_train, x_val, y_val, seed):
    """Re-estimate BatchNorm statistics from training faces when that scores better on val.

    After a short training the moving averages (momentum 0.99) still lag the weights and the
    model scores far below what it can do; after a long one they are fine and stay.
    """
    from fer.evaluate import predict_proba

    if not has_batchnorm(model):
        return
    before = [w.numpy() for w in model.non_trainable_weights]
    score = lambda: float((predict_proba(model, x_val).argmax(1) == y_val).mean())  # noqa: E731
    old = score()
    _recalibrate(model, bn_sample(x_train, seed), seed)
    if score() < old:
        for var, value in zip(model.non_trainable_weights, before):
            var.assign(value)
