"""Knowledge distillation: a student learns from a saved teacher's softened probabilities.

Hinton et al. (2015): loss = alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T),
where p_T = softmax(log(p) / T) (every registry model outputs probabilities, not logits).

For `fer.train` the teacher runs inside the tf.data pipeline on the very batch the student
sees, augmentation included, and its probabilities ride along after the one-hot labels (y has
2 x 7 columns). The fitted model stays the plain student, so checkpoints, resume, best-epoch
weights and `fer finish` need nothing new.
"""
from __future__ import annotations

from fer import NUM_CLASSES

EPS = 1e-7


def _log_softened(probs, temperature: float):
    """log of the probabilities re-softened at `temperature`: log_softmax(log(p) / T)."""
    from keras import ops

    return ops.log_softmax(ops.log(ops.clip(probs, EPS, 1.0)) / temperature, axis=-1)


def soft_kl(teacher_probs, student_probs, temperature: float):
    """Per-sample KL(teacher_T || student_T), scaled by T^2 so its gradients keep their size."""
    from keras import ops

    t = float(temperature)
    log_teacher, log_student = _log_softened(teacher_probs, t), _log_softened(student_probs, t)
    return (t**2) * ops.sum(ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)


def distillation_loss(alpha: float = 0.3, temperature: float = 4.0, label_smoothing: float = 0.0):
    """A Keras loss over y = [one-hot labels | teacher probabilities] (per sample, so class weights apply)."""
    import keras

    def distillation(y_true, y_pred):
        hard, teacher = y_true[:, :NUM_CLASSES], y_true[:, NUM_CLASSES:]
        ce = keras.losses.categorical_crossentropy(hard, y_pred, label_smoothing=label_smoothing)
        return alpha * ce + (1 - alpha) * soft_kl(teacher, y_pred, temperature)

    return distillation


def accuracy(y_true, y_pred):
    """Accuracy against the labels only (the first 7 columns), so it is named and logged as `accuracy`."""
    import keras

    return keras.metrics.categorical_accuracy(y_true[:, :NUM_CLASSES], y_pred)


def with_teacher(ds, teacher):
    """Append `teacher`'s probabilities on each (augmented) batch to its one-hot labels."""
    import tensorflow as tf

    def add(x, y):
        return x, tf.concat([y, tf.cast(teacher(x, training=False), y.dtype)], axis=-1)

    return ds.map(add, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
