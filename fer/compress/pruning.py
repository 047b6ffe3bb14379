"""Magnitude pruning: masks of the smallest kernels, a short fine-tune with the masks held."""
from __future__ import annotations

from typing import Optional

import numpy as np

from fer.batchnorm import all_layers, recalibrate_batchnorm
from fer.compress.weights import template_like
from fer.errors import ModelConfigError
from fer.quiet import quiet

KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


def prunable_layers(model) -> list:
    """Layers whose `kernel` gets pruned: Conv2D, DepthwiseConv2D, Dense (biases, BN stay dense)."""
    return [layer for layer in all_layers(model) if type(layer).__name__ in KERNEL_LAYERS and getattr(layer, "kernel", None) is not None]


def magnitude_masks(model, sparsity: float, scope: str = "global") -> dict:
    """{layer name: bool keep-mask} for the prunable kernels, zeroing the smallest |w|.

    scope="global": one threshold over all prunable kernels, exactly round(sparsity * total)
    zeros in all (the small, sensitive early convolutions keep more of their weights, the big
    dense layer gives up more). scope="layer": exactly round(sparsity * size) zeros in every
    kernel (uniform, but costs far more accuracy on small CNNs).
    """
    if not 0 <= sparsity < 1:
        raise ModelConfigError(f"sparsity must be in [0, 1), got {sparsity}")
    if scope not in ("global", "layer"):
        raise ModelConfigError(f"scope must be 'global' or 'layer', got {scope!r}")
    kernels = {layer.name: np.asarray(layer.kernel.numpy()) for layer in prunable_layers(model)}
    masks = {}
    if scope == "layer":
        for name, w in kernels.items():
            keep = np.ones(w.size, bool)
            keep[np.argsort(np.abs(w).ravel(), kind="stable")[: int(round(sparsity * w.size))]] = False
            masks[name] = keep.reshape(w.shape)
        return masks
    flat = np.concatenate([np.abs(w).ravel() for w in kernels.values()]) if kernels else np.zeros(0)
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[: int(round(sparsity * flat.size))]] = False
    at = 0
    for name, w in kernels.items():
        masks[name] = keep[at : at + w.size].reshape(w.shape)
        at += w.size
    return masks


def apply_masks(model, masks: dict) -> None:
    for layer in prunable_layers(model):
        if layer.name in masks:
            layer.kernel.assign(layer.kernel.numpy() * masks[layer.name])


def kernel_sparsity(model, masks: Optional[dict] = None) -> float:
    """Fraction of exact zeros over the prunable kernels (those in `masks` when given)."""
    zeros = total = 0
    for layer in prunable_layers(model):
        if masks is not None and layer.name not in masks:
            continue
        w = layer.kernel.numpy()
        zeros += int(np.sum(w == 0))
        total += w.size
    return zeros / total if total else 0.0


def _mask_callback(masks):
    import keras

    class KeepMasks(keras.callbacks.Callback):
        """Re-apply the pruning masks after every optimizer step (and at the end)."""

        def on_train_batch_end(self, batch, logs=None):
            apply_masks(self.model, masks)

        def on_train_end(self, logs=None):
            apply_masks(self.model, masks)

    return KeepMasks()


def prune(model, sparsity: float = 0.5, images=None, labels=None, epochs: int = 1, learning_rate: float = 1e-3,
          batch_size: int = 64, seed: int = 0, recalibrate: bool = True, scope: str = "global"):
    """Magnitude-prune a copy of `model` and fine-tune it briefly with the masks held.

    Returns (pruned model, masks). Without training images it only prunes (no fine-tune).
    `scope`: see `magnitude_masks` (global by default). After the fine-tune the BatchNorm
    statistics are re-estimated on the training images (`recalibrate_batchnorm`): the pruned
    network's activations differ from the ones the moving averages remember.
    """
    import keras

    from fer.pipeline import make_dataset

    pruned = template_like(model)
    pruned.set_weights(model.get_weights())
    masks = magnitude_masks(pruned, sparsity, scope)
    apply_masks(pruned, masks)
    if images is not None and len(images) and epochs > 0 and sparsity > 0:
        keras.utils.set_random_seed(seed)
        pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
        ds = make_dataset(images, labels, batch_size, shuffle=True, seed=seed)
        with quiet():
            pruned.fit(ds, epochs=epochs, verbose=0, callbacks=[_mask_callback(masks)])
        apply_masks(pruned, masks)
    if recalibrate and images is not None and len(images):
        recalibrate_batchnorm(pruned, images, seed=seed)
    return pruned, masks
