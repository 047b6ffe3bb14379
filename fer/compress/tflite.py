"""TFLite artefacts: export a SavedModel (Keras 3's `model.export`), convert, and run them.

`TFLiteConverter.from_keras_model` fails on Keras 3, so the converter reads the exported
SavedModel. Input and output stay float32 in every mode, so `fer.runtimes.TFLiteModel` is a
drop-in for `predict_proba`.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from fer.quiet import quiet

TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8")


def export_saved_model(model, directory) -> Path:
    """`model.export(..., format="tf_saved_model")`: the route TFLite takes from Keras 3
    (`TFLiteConverter.from_keras_model` does not work on Keras 3 models)."""
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    with quiet():
        model.export(str(directory), format="tf_saved_model", verbose=False)
    return directory


def tflite_convert(saved_model_dir, mode: str = "float32", representative=None, calibration: int = 200,
                   int8_io: bool = False, per_channel: bool = True, strip_names: bool = False) -> bytes:
    """Convert a SavedModel to a TFLite flatbuffer.

    mode: float32 | float16 (float16 weights) | dynamic_int8 (int8 weights, dynamic-range) |
    full_int8 (int8 weights and activations calibrated on `representative`, uint8 or float
    images (N,48,48[,1]) in 0..255; input and output stay float32 so callers need not quantise,
    unless `int8_io=True`, for integer-only devices: then `TFLiteModel` quantises the input with
    the input tensor's scale and zero point and dequantises the output).

    per_channel=False: one scale per weight tensor instead of one per output channel (each channel
    costs a float32 scale and an int64 zero point: ~27 KB of a 60k-parameter MobileNet's 108 KB).
    strip_names=True: drop tensor and signature names (TFLite's own `flatbuffer_utils.strip_strings`;
    ~10 KB there); the interpreter runs the file as before, by tensor index.
    """
    import tensorflow as tf

    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; choose one of {', '.join(TFLITE_MODES)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "full_int8":
        if representative is None or len(representative) == 0:
            raise ValueError("full-integer quantisation needs representative images")
        from fer.evaluate import as_model_input

        rep = as_model_input(representative[:calibration])

        def gen():
            for i in range(len(rep)):
                yield [rep[i : i + 1]]

        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True  # the converter's switch (TF pinned in requirements)
    with quiet():
        flat = converter.convert()
    if strip_names:
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flat))
        flatbuffer_utils.strip_strings(model)
        flat = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return flat
