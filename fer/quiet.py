"""Silence TensorFlow's and TFLite's deprecation chatter around a call."""
from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def quiet():
    """Silence TF/TFLite deprecation chatter (tf.lite.Interpreter, converter) around a call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
