"""The input pipeline: tf.data batches of faces in 0..255 with one-hot labels, and augmentation."""
from __future__ import annotations

import numpy as np

from fer import NUM_CLASSES


def augmentation(seed: int = 0, erasing: float = 0.0):
    """Horizontal flip, shift, zoom, small rotation and, with a chance `erasing` per face,
    random erasing of a patch (Zhong et al. 2017): Keras preprocessing layers.

    Erasing is off by default: while a model underfits (train-mode accuracy no higher than
    val) more regularisation costs accuracy, and on the CNNs tried here it lost val accuracy
    even once they overfit.
    """
    import keras
    from keras import layers

    steps = [
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 2),
        layers.RandomRotation(10 / 360, fill_mode="nearest", seed=seed + 3),
    ]
    if erasing:  # a fixed (p, p) range: a single float would draw the chance from [0, p]
        steps.append(layers.RandomErasing(factor=(erasing, erasing), value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="augmentation")


def make_dataset(images, labels, batch_size, shuffle=False, augment=False, seed=0, label_smoothing=0.0, erasing=0.0):
    """A tf.data pipeline of (float32 (B,48,48,1) in 0..255, one-hot labels)."""
    import tensorflow as tf

    x = np.asarray(images, np.uint8)[..., None]
    y = np.asarray(labels, np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:  # the whole set: loaders return faces sorted by class, and a smaller buffer
        # would end every epoch on a few classes (skewed last updates and BatchNorm statistics)
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), tf.one_hot(b, NUM_CLASSES)), num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        aug = augmentation(seed, erasing)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
