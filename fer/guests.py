"""Models trained elsewhere, imported as runs: a Keras file (`.keras`, Keras 2 `.h5`/`.hdf5`), a
TensorFlow SavedModel folder, a `.tflite` file or an `.onnx` file (PyTorch's export).

The guest keeps its own input and output; an `Adapter` read from its signature and the import's
options stands between it and the app's 48x48 grey faces in 0..255 and FER2013's seven classes:

    face (N,48,48,1) 0..255 -> resized to the guest's size -> pixel range LO..HI -> channels
    replicated -> NCHW if the guest wants it -> guest -> softmax if it gives logits -> FER2013's
    class order (a class it lacks reads 0; the probability of a class FER2013 lacks stays out of
    the seven and is shown as that class's, never folded into another).

A Keras guest becomes one flat Keras model with the adapter as layers (`keras_wrapper`), saved as
the run's `model.keras`: every page and command works on it, gradients and filters included. A
TFLite or ONNX guest has no gradients; its file is kept as `model.tflite` / `model.onnx` and run
by `ForwardOnly` (predictions, and the maps that need only predictions). A SavedModel is kept as
its TFLite conversion.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from fer import CLASS_NAMES
from fer.errors import RunError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
FORMATS = {".keras": "keras", ".h5": "keras-h5", ".hdf5": "keras-h5", ".tflite": "tflite", ".onnx": "onnx"}
# Names other data sets give FER2013's classes (FER+, AffectNet, RAF-DB).
SYNONYMS = {"anger": "angry", "disgusted": "disgust", "fearful": "fear", "afraid": "fear", "happiness": "happy",
            "joy": "happy", "sadness": "sad", "surprised": "surprise", "neutrality": "neutral", "calm": "neutral"}


class ImportRefused(RunError):
    """A model file that cannot be imported: the message names the file and what to change."""


@dataclasses.dataclass(frozen=True)
class Adapter:
    """What stands between a 48x48 face and the guest, and between its outputs and FER2013's."""

    size: tuple  # (height, width) the guest takes
    channels: int  # 1 or 3
    layout: str  # "NHWC" or "NCHW"
    low: float = 0.0  # the guest's pixel range: 0..255 maps linearly onto low..high
    high: float = 255.0
    classes: tuple = CLASS_NAMES  # the guest's outputs, in order
    softmax: bool = False  # its outputs are logits: a softmax makes them probabilities

    def as_meta(self) -> dict:
        return {**dataclasses.asdict(self), "size": list(self.size), "classes": list(self.classes)}

    @classmethod
    def from_meta(cls, meta: dict) -> "Adapter":
        return cls(**{**meta, "size": tuple(meta["size"]), "classes": tuple(meta["classes"])})

    @property
    def extra_classes(self) -> tuple:
        """The guest's classes FER2013 lacks."""
        return tuple(c for c in self.classes if c not in CLASS_NAMES)

    @property
    def is_permutation(self) -> bool:
        """The guest's classes are FER2013's seven, in any order."""
        return sorted(self.classes) == sorted(CLASS_NAMES)

    def class_matrix(self) -> np.ndarray:
        """(guest outputs, 7): 1 where a guest output is a FER2013 class."""
        matrix = np.zeros((len(self.classes), len(CLASS_NAMES)), np.float32)
        for k, name in enumerate(self.classes):
            if name in CLASS_NAMES:
                matrix[k, CLASS_NAMES.index(name)] = 1.0
        return matrix

    def prepare(self, faces) -> np.ndarray:
        """float32 (N,48,48,1) faces in 0..255 -> the guest's input (numpy; the Keras wrapper does
        the same with layers)."""
        import tensorflow as tf

        x = np.asarray(faces, np.float32).reshape(-1, 48, 48, 1)
        if tuple(self.size) != (48, 48):
            x = tf.image.resize(x, self.size, method="bilinear").numpy()
        x = x * ((self.high - self.low) / 255.0) + self.low
        if self.channels == 3:
            x = np.repeat(x, 3, axis=-1)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self.layout == "NCHW" else x, np.float32)

    def probabilities(self, outputs) -> np.ndarray:
        """The guest's outputs (N, outputs) as probabilities over its own classes, float64."""
        out = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
        if self.softmax:
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        return out

    def finish(self, outputs) -> np.ndarray:
        """The guest's outputs (N, outputs) -> FER2013's seven probabilities (N,7)."""
        return (self.probabilities(outputs) @ self.class_matrix()).astype(np.float32)

    def others(self, outputs) -> np.ndarray:
        """The probability of the guest's classes FER2013 lacks, (N, len(extra_classes))."""
        keep = [k for k, c in enumerate(self.classes) if c not in CLASS_NAMES]
        return self.probabilities(outputs)[:, keep].astype(np.float32)


class ForwardOnly:
    """A TFLite or ONNX guest behind its adapter, callable like the app's Keras models:
    `model(faces)` -> (N,7) probabilities. No layers, no gradients."""

    def __init__(self, runner, adapter: Adapter, kind: str):
        self.runner, self.adapter, self.kind = runner, adapter, kind

    def __call__(self, x, training=False):
        x = np.asarray(x, np.float32)
        if len(x) == 0:
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        return self.adapter.finish(self.runner(self.adapter.prepare(x)))

    predict = __call__


def extra_classes_of(meta: dict) -> tuple:
    """An imported run's classes FER2013 lacks (FER+'s contempt), from its run.json; () otherwise.
    Their probability is what the seven FER2013 classes leave: 1 - their sum."""
    adapter = ((meta or {}).get("guest") or {}).get("adapter") or {}
    return tuple(c for c in adapter.get("classes", ()) if c not in CLASS_NAMES)


def scoring_note(meta: dict):
    """One line on how an imported run with classes FER2013 lacks is scored; None for any other run."""
    extras = extra_classes_of(meta)
    if not extras:
        return None
    named = "/".join(extras)
    return (f"the model also has {named}, {'a class' if len(extras) == 1 else 'classes'} FER2013 lacks: each face counts as "
            f"the most probable of FER2013's seven classes, and {named}'s probability is left out, never added to another "
            "class")


def is_keras(model) -> bool:
    """Whether `model` has layers and gradients (a Keras model), as against a `ForwardOnly` guest."""
    return not isinstance(model, ForwardOnly)


# ----------------------------------------------------------------------------------------------
# options as typed


def parse_range(text: Optional[str]) -> tuple:
    """"LO,HI" -> (lo, hi); default 0..255."""
    if text is None or not str(text).strip():
        return 0.0, 255.0
    parts = [p.strip() for p in str(text).split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ImportRefused(f"--range {text!r}: give the pixel range the model expects as two numbers, LO,HI "
                            "(0,255, 0,1 or -1,1)") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise ImportRefused(f"--range {text!r}: LO must be below HI (for example 0,1 or -1,1)")
    return low, high


def parse_classes(text) -> tuple:
    """"happy,sad,..." (or a list) -> the class names in the model's output order, lower-cased,
    other data sets' names for FER2013's classes mapped to FER2013's ("happiness" -> "happy")."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return CLASS_NAMES
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [SYNONYMS.get(n, n) for n in names]
    if any(not n for n in names):
        raise ImportRefused(f"--classes {text!r}: an empty class name; give the names comma-separated, in the model's output order")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImportRefused(f"--classes names {', '.join(twice)} twice; give each output one name")
    if not set(names) & set(CLASS_NAMES):
        raise ImportRefused(f"--classes {text!r} names none of FER2013's classes ({', '.join(CLASS_NAMES)})")
    return tuple(names)


# ----------------------------------------------------------------------------------------------
# reading a guest file


def guest_format(path: Path) -> str:
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ImportRefused(f"{path}: a folder without saved_model.pb is not a SavedModel")
    if not path.is_file():
        raise ImportRefused(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ImportRefused(f"{path.name}: unknown model format {path.suffix or '(no suffix)'}; "
                            f"import a {', '.join(FORMATS)} file or a SavedModel folder")
    return kind


def refuse_load(path: Path, kind: str, exc: Exception):
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    raise ImportRefused(f"{Path(path).name}: cannot load it as a {kind} model ({type(exc).__name__}: {first})") from None


def open_guest(path: Path, kind: str, data: Optional[bytes] = None):
    """The guest as Keras loads it (safe mode) or as a runner of its file (or of `data`, its bytes)."""
    from fer.quiet import quiet

    try:
        with quiet():
            if kind in ("keras", "keras-h5"):
                import keras

                return keras.models.load_model(str(path), compile=False, safe_mode=True)
            if kind == "tflite":
                from fer.runtimes import TFLiteModel

                return TFLiteModel(data if data is not None else Path(path).read_bytes())
            if kind == "onnx":
                from fer.runtimes import OnnxModel

                return OnnxModel(data if data is not None else Path(path).read_bytes())
    except Exception as exc:  # noqa: BLE001 - any loader failure is a refused file, said in one line
        refuse_load(path, kind, exc)
    raise ImportRefused(f"{path}: unknown model format {kind}")


def input_shape(guest, kind: str) -> tuple:
    """The guest's declared input shape (batch first; None where free)."""
    if kind in ("keras", "keras-h5"):
        if len(guest.inputs) != 1 or len(guest.outputs) != 1:
            raise ImportRefused(f"the model has {len(guest.inputs)} input(s) and {len(guest.outputs)} output(s); "
                                "import a model with one image input and one class output")
        return tuple(guest.inputs[0].shape)
    if kind == "tflite":
        if len(guest.interpreter.get_input_details()) != 1:
            raise ImportRefused("the TFLite model has several inputs; import a model with one image input")
        signature = guest.input.get("shape_signature", guest.input["shape"])
        return tuple(None if d < 0 else int(d) for d in signature)
    if guest.input_count != 1:
        raise ImportRefused(f"the ONNX model has {guest.input_count} inputs ({guest.input_name}, ...); import a model with one image input")
    return guest.input_shape


def layout_of(shape: Sequence) -> tuple:
    """(layout, (height, width), channels) of a declared image input: NHWC when the last axis has
    1 or 3 channels, else NCHW when the second has; a free height or width takes the face's 48."""
    shape = tuple(shape)
    if len(shape) == 3:  # (N,H,W): one grey channel, no axis for it
        raise ImportRefused(f"input shape {shape}: the model takes (N,H,W) images without a channel axis; "
                            "export it with one, (N,H,W,1) or (N,1,H,W)")
    if len(shape) != 4:
        raise ImportRefused(f"input shape {shape}: not a batch of images (expected 4 axes, NHWC or NCHW)")
    if shape[3] in (1, 3):
        layout, (h, w), c = "NHWC", shape[1:3], shape[3]
    elif shape[1] in (1, 3):
        layout, (h, w), c = "NCHW", shape[2:4], shape[1]
    else:
        raise ImportRefused(f"input shape {shape}: no axis of 1 or 3 channels (grey or RGB), first or last")
    return layout, (h or 48, w or 48), int(c)


# ----------------------------------------------------------------------------------------------
# the app-side model


def keras_wrapper(guest, adapter: Adapter):
    """One flat Keras model: the adapter's steps as layers, the guest's layers replayed on them
    (not nested, so cam layers, filters and summaries see them), FER2013's classes last.

    Where the guest's classes are FER2013's seven and its last layer's softmax can be lifted, the
    softmax moves after the reordering (the same probabilities; explanations then see logits
    when the page's methods swap the last activation for a linear one)."""
    import keras

    inp = keras.Input((48, 48, 1), name="face")
    x = inp
    if tuple(adapter.size) != (48, 48):
        x = keras.layers.Resizing(*adapter.size, interpolation="bilinear", name="guest_resize")(x)
    x = keras.layers.Rescaling((adapter.high - adapter.low) / 255.0, adapter.low, name="guest_range")(x)
    if adapter.channels == 3:
        x = keras.layers.Concatenate(name="guest_rgb")([x, x, x])
    if adapter.layout == "NCHW":
        x = keras.layers.Permute((3, 1, 2), name="guest_nchw")(x)
    last = guest.layers[-1]
    lifted = adapter.is_permutation and getattr(last, "activation", None) is keras.activations.softmax
    if lifted:
        last.activation = keras.activations.linear
    y = _replayed(guest, x)
    if adapter.softmax and not lifted:
        y = keras.layers.Activation("softmax", name="guest_softmax")(y)
    order = keras.layers.Dense(len(CLASS_NAMES), use_bias=False, trainable=False, name="fer_classes")
    y = order(y)
    if lifted:
        y = keras.layers.Activation("softmax", name="fer_probabilities")(y)
    model = keras.Model(inp, y, name="imported")
    order.set_weights([adapter.class_matrix()])
    return model


def _replayed(guest, x):
    """The guest's layers called on `x` one by one, so they become the wrapper's own layers:
    a Sequential's in order; a functional model's through `Functional._run_through_graph` (what
    `Functional.call` does). A subclassed model has no graph to replay: it stays one opaque layer
    (its gradients work, its inner layers are out of the pages' reach)."""
    import keras

    if isinstance(guest, keras.Sequential):
        for layer in guest.layers:
            x = layer(x)
        return x
    if hasattr(guest, "_run_through_graph"):
        y = guest._run_through_graph(x, operation_fn=lambda op: op)
        return y[0] if isinstance(y, (list, tuple)) else y
    return guest(x)


def app_model(guest, adapter: Adapter, kind: str):
    if kind in ("keras", "keras-h5"):
        return keras_wrapper(guest, adapter)
    return ForwardOnly(guest, adapter, kind)


def load_forward_only(path: Path, meta: dict) -> ForwardOnly:
    """A saved TFLite or ONNX run's model (`Run.load_model` calls this)."""
    kind = "onnx" if meta["guest"]["format"] == "onnx" else "tflite"  # a SavedModel is kept as its TFLite file
    return ForwardOnly(open_guest(path, kind), Adapter.from_meta(meta["guest"]["adapter"]), kind)


def params_of(guest, kind: str, data: bytes) -> Optional[int]:
    """The guest's parameter count: Keras counts it; in a TFLite or ONNX file, the elements of its
    constant tensors that hold numbers of the model (integer shapes and axes left out; a converter
    may drop a bias of zeros, so a converted file can count fewer than its Keras original)."""
    if kind in ("keras", "keras-h5"):
        return int(guest.count_params())
    try:
        if kind == "onnx":
            import onnx

            graph = onnx.load_from_string(data).graph
            index_types = (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
            return int(sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type not in index_types))
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        flat = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
        index_types = (schema.TensorType.INT32, schema.TensorType.INT64)
        return int(sum(int(np.prod(t.shape)) for t in flat.subgraphs[0].tensors
                       if flat.buffers[t.buffer].data is not None and t.type not in index_types))
    except Exception:  # noqa: BLE001 - a count is a nicety; the import does not depend on it
        return None
