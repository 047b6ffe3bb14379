"""Model files run without Keras, each callable like a Keras model on float32 NHWC batches:
`runner(x)` -> the file's own output, as float32. `TFLiteModel` runs a .tflite file with
TensorFlow's interpreter (the compression ladder's files and imported ones), `OnnxModel` an
.onnx file with onnxruntime (models exported from PyTorch). They take the input their file
declares: `fer.guests` turns a 48x48 face into it.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from fer.quiet import quiet


class TFLiteModel:
    """A .tflite file run with the TFLite interpreter, callable like a Keras model:
    `TFLiteModel(path)(x)` -> (N,7) float32 probabilities, so `fer.evaluate.predict_proba` works."""

    def __init__(self, path_or_bytes, batch_size: int = 256, num_threads: Optional[int] = None):
        import tensorflow as tf

        kwargs = {"model_content": path_or_bytes} if isinstance(path_or_bytes, (bytes, bytearray)) else {"model_path": str(path_or_bytes)}
        with quiet():
            self.interpreter = tf.lite.Interpreter(**kwargs, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch_size = batch_size
        self._batch = None

    def _resize(self, n):
        if self._batch != n:
            self.interpreter.resize_tensor_input(self.input["index"], [n, *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._batch = n

    def _run(self, x):
        self._resize(len(x))
        dtype = self.input["dtype"]
        if dtype != np.float32:  # a quantised input: quantise with the tensor's scale / zero point
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if out.dtype != np.float32:
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return np.array(out, np.float32)

    def __call__(self, x, training=False):
        x = np.asarray(x, np.float32)
        if len(x) == 0:
            return np.zeros((0, int(self.output["shape"][-1])), np.float32)
        return np.concatenate([self._run(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    predict = __call__


class OnnxModel:
    """An .onnx file run with onnxruntime on the CPU, its one input and first output found by name
    in the file (never assumed). `input_shape` is the declared shape, a name or None where a
    dimension is free (the batch)."""

    def __init__(self, path_or_bytes, batch_size: int = 256):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: a quiet server log
        source = bytes(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else str(path_or_bytes)
        self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.input_count = len(inputs)
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape)
        self.input_type = inputs[0].type
        self.output_name = self.session.get_outputs()[0].name
        self.batch_size = batch_size

    def __call__(self, x, training=False):
        x = np.asarray(x, np.float32)
        out = [self.session.run([self.output_name], {self.input_name: x[i : i + self.batch_size]})[0]
               for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    predict = __call__
