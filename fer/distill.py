"""Knowledge distillation: a student learns from a saved teacher's softened probabilities.

Hinton et al. (2015): loss = alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T),
where p_T = softmax(log(p) / T) (every registry model outputs probabilities, not logits).

For `fer.train` the teacher runs inside the tf.data pipeline on the very batch the student
sees, augmentation included, and its probabilities ride along after the one-hot labels (y has
2 x 7 columns). The fitted model stays the plain student, so checkpoints, resume, best-epoch
weights and `fer finish` need nothing new.

Everything about distillation is here: the loss, the teacher in the pipeline, loading a saved
teacher (`fer train --teacher`), and the Compression page's quick student-alone-vs-distilled
comparison (`fit_student`, `distill_compare`).
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from fer import NUM_CLASSES
from fer.errors import ModelConfigError, RunError
from fer.pipeline import make_dataset
from fer.quiet import quiet

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


def load_teacher(run_id: str, store):
    """The saved run to distil from, frozen; any registry model fits (all map 48x48x1 faces to 7 probabilities)."""
    try:
        teacher = store.get(run_id).load_model()
    except RunError as exc:
        raise ModelConfigError(f"cannot distil from {run_id}: {exc}") from None
    teacher.trainable = False
    return teacher


def fit_student(images, labels, width: float = 0.5, teacher=None, epochs: int = 3, temperature: float = 4.0,
                alpha: float = 0.3, learning_rate: float = 3e-3, batch_size: int = 32, seed: int = 0, progress=None,
                recalibrate: bool = True, **options):
    """Train the registry's MobileNet at `width` (distilled from `teacher`, or alone when None).

    The loss is `fer.distillation_loss`, the one `fer train --teacher` uses. Same seed,
    data order and optimizer either way, so the two differ only in the loss; both get their
    BatchNorm statistics re-estimated after the (short) fit.
    Returns the trained student (a plain functional Keras model).
    """
    import keras

    from fer.models import build_model

    keras.utils.set_random_seed(seed)
    student = build_model("mobilenet", width, **options)
    ds = make_dataset(images, labels, batch_size, shuffle=True, seed=seed)
    if teacher is None:
        loss, metrics = keras.losses.CategoricalCrossentropy(), ["accuracy"]
    else:
        ds = with_teacher(ds, teacher)
        loss, metrics = distillation_loss(alpha, temperature), [accuracy]
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    callbacks = []
    if progress is not None:
        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                progress({"epoch": epoch + 1, "epochs": epochs, **{k: float(v) for k, v in (logs or {}).items()}})

        callbacks.append(Report())
    with quiet():
        student.fit(ds, epochs=epochs, verbose=0, callbacks=callbacks)
    if recalibrate:
        from fer.batchnorm import recalibrate_batchnorm

        recalibrate_batchnorm(student, images, seed=seed)
    return student


def distill_compare(teacher, train_images, train_labels, test_images, test_labels, width: float = 0.5,
                    epochs: int = 3, temperature: float = 4.0, alpha: float = 0.3, seed: int = 0,
                    max_train_images: Optional[int] = None, progress=None, **kwargs) -> dict:
    """Train the same MobileNet student alone and distilled from `teacher`; test accuracy of each.

    Returns {"teacher_accuracy", "alone_accuracy", "distilled_accuracy", "gain_points",
    "student_params", "teacher_params", "seconds_alone", "seconds_distilled", "student", "alone"}.
    """
    from fer.evaluate import predict_proba

    x, y = np.asarray(train_images), np.asarray(train_labels)
    if max_train_images and len(x) > max_train_images:
        keep = np.random.default_rng(seed).permutation(len(x))[:max_train_images]
        x, y = x[keep], y[keep]
    test_labels = np.asarray(test_labels)

    def acc(m):
        return float((predict_proba(m, test_images).argmax(1) == test_labels).mean())

    def stage(name):
        return (lambda e: progress({**e, "stage": name})) if progress else None

    start = time.time()
    alone = fit_student(x, y, width, None, epochs, seed=seed, progress=stage("alone"), **kwargs)
    t_alone = time.time() - start
    start = time.time()
    student = fit_student(x, y, width, teacher, epochs, temperature, alpha, seed=seed, progress=stage("distilled"), **kwargs)
    t_distilled = time.time() - start
    out = {"teacher_accuracy": acc(teacher), "alone_accuracy": acc(alone), "distilled_accuracy": acc(student),
           "student_params": int(student.count_params()), "teacher_params": int(teacher.count_params()),
           "width": width, "epochs": epochs, "temperature": temperature, "alpha": alpha, "train_images": int(len(x)),
           "seconds_alone": round(t_alone, 1), "seconds_distilled": round(t_distilled, 1), "student": student, "alone": alone}
    out["gain_points"] = 100 * (out["distilled_accuracy"] - out["alone_accuracy"])
    return out
