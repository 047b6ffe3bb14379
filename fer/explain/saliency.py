"""Attribution maps: vanilla Saliency, SmoothGrad, Grad-CAM, Grad-CAM++ and (Faster-)Score-CAM.

Every method is an `Explainer` object with one signature (the shape of tf-keras-vis' visualisations)::

    maps = METHODS["Grad-CAM"](model, images, class_index, **options)

- ``images``: uint8 (N,48,48) faces (or (48,48) for one face; (N,48,48,1) and float 0..255 work too);
- ``class_index``: an int for all faces, or one int per face;
- returns float32 (N,48,48), each map scaled to [0,1] (an all-zero map stays zero).
Each method lists the options it takes (`METHODS[name].options`); any other option is an error.

The algorithms are tf-keras-vis' own classes (``Saliency``, ``Gradcam``, ``GradcamPlusPlus``,
``Scorecam``) on a copy of the model whose softmax is replaced by a linear output
(``ReplaceToLinear``, applied through tf-keras-vis' clone so the shared, cached model is never
touched). The copy is prepared once per model object and cached:

- tf-keras-vis runs the model eagerly, layer by layer, which on this 2-core CPU costs 3-5x the
  compiled forward pass. The prepared copy therefore hands tf-keras-vis a *compiled stand-in*:
  a functional model of two layers, ``last_conv`` (everything up to the target layer) and
  ``probabilities`` (the rest), each one `tf.function`. tf-keras-vis sees a normal model (it cuts
  it at ``penultimate_layer=LAST_CONV`` as usual) and its maths is unchanged; the tests check the
  maps equal those of tf-keras-vis on the plain linear copy.
- Grad-CAM family methods name their layer explicitly (``fer.models.LAST_CONV``; tf-keras-vis'
  automatic search skips MobileNet's depthwise layers) and never search.
- CAM methods: the coarse map (6x6 here) is taken from tf-keras-vis before its upsampling
  (``expand_cam=False``) and upsampled with pixel centres aligned; tf-keras-vis' own
  ``scipy.ndimage.zoom`` aligns the corner pixels, which shifts the map outwards by up to half a
  cell (measured: about 5 points less energy inside the generated faces' expression regions).
  ``upsample="tf-keras-vis"`` gives the library's maps exactly.

SmoothGrad: tf-keras-vis' ``smooth_noise`` is relative: sigma = noise * (max - min) of each
input image, so with 0..255 faces ``noise=0.2`` means sigma of about 50 grey levels, the
paper's 10-20 % of the range, with no rescaling needed. Here the noisy copies are drawn with a
seeded generator and sent through tf-keras-vis' ``Saliency`` as one batch (the same estimator
as its ``smooth_samples`` loop: the mean of |gradient| over the samples), so reruns give the
same map and 20 samples cost one batched gradient instead of 20 calls.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from typing import Dict, Optional

import numpy as np

from fer import stopping
from fer.models import LAST_CONV

UPSAMPLING = ("centres", "tf-keras-vis")

_NO_GRADIENTS = ("an imported {kind} model gives predictions only: no gradients and no layers to read, which this "
                 "method needs")
_NO_CONV = ("the model has no convolutional layer (it flattens the face first), so there are no spatial "
            "feature maps for a class activation map to weight")


# ----------------------------------------------------------------------------------------------
# the prepared (linear, compiled) copy of a model, cached per model object


def _keras():
    import keras

    return keras


def cam_layer(model) -> Optional[str]:
    """The layer the CAM methods weight: `LAST_CONV` if the model names it, else its last
    convolution layer; None for a model without one (the DNN). A mirror-averaged model's is
    its network's; an imported TFLite or ONNX model has no layers to name."""
    from fer.guests import is_keras
    from fer.mirror import network_of

    if not is_keras(model):
        return None
    model = network_of(model)
    names = [layer.name for layer in model.layers]
    if LAST_CONV in names:
        return LAST_CONV
    for layer in reversed(model.layers):
        if "Conv" in type(layer).__name__ and len(layer.output.shape) == 4:
            return layer.name
    return None


def cam_grid(model) -> Optional[str]:
    """The CAM layer's map size as shown to users ("6x6"); None without a conv layer. A CAM map
    has one value per cell of it, upsampled to the face."""
    from fer.mirror import network_of

    name = cam_layer(model)
    if name is None:
        return None
    h, w = network_of(model).get_layer(name).output.shape[1:3]
    return f"{h}x{w}"


def _forward(submodel, v):
    return submodel(v, training=False)


def _vjp(submodel, v, dy):
    """The vector-Jacobian product of `submodel` at `v` with `dy`, forward recomputed."""
    import tensorflow as tf

    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(v)
        y = submodel(v, training=False)
    return tape.gradient(y, v, output_gradients=dy)


_GRADIENT_STOPS = threading.local()


@contextlib.contextmanager
def _gradient_stops_at_layer():
    """In this thread, the compiled trunks' gradients to their input read zero, uncomputed. A CAM
    method needs the gradient only as far as its layer, but tf-keras-vis watches the input, so
    TensorFlow's tape would back-propagate through the whole trunk as well (3x the forward). A
    flag read when the gradient runs (eagerly), so one stand-in serves every method, traced once."""
    _GRADIENT_STOPS.active = True
    try:
        yield
    finally:
        _GRADIENT_STOPS.active = False


class _Compiled:
    """Factory for a Keras layer that runs a sub-model as one `tf.function`, with a compiled
    gradient: tf-keras-vis' eager GradientTape would otherwise differentiate the function op by
    op-level bookkeeping (measured 2-6x slower than one compiled forward+backward); here the
    backward pass is a second `tf.function` that recomputes the forward and returns the
    vector-Jacobian product in one graph."""

    @staticmethod
    def make(submodel, name, stoppable: bool = False):
        """`stoppable`: inside `_gradient_stops_at_layer()` the layer's gradient to its input reads
        zero, uncomputed (the CAM methods' trunk)."""
        import tensorflow as tf

        keras = _keras()
        spec = tf.TensorSpec((None,) + tuple(submodel.input.shape[1:]), tf.float32)
        out_shape = tuple(submodel.output.shape[1:])
        # partials, not closures: TensorFlow counts the traces of every function made from one
        # piece of code together, and each model's functions (each traced once) read as retracing
        forward = tf.function(functools.partial(_forward, submodel), input_signature=[spec])
        vjp = tf.function(functools.partial(_vjp, submodel),
                          input_signature=[spec, tf.TensorSpec((None,) + out_shape, tf.float32)])

        @tf.custom_gradient
        def run(v):
            def grad(dy, variables=None):
                stop = stoppable and getattr(_GRADIENT_STOPS, "active", False)
                dv = tf.zeros_like(v) if stop else vjp(v, tf.cast(dy, tf.float32))
                return (dv, [None] * len(variables)) if variables else dv

            return forward(v), grad

        class Compiled(keras.layers.Layer):
            def __init__(self):
                super().__init__(name=name, trainable=False)
                # kept outside Keras' attribute tracking: the sub-model's weights stay its own
                self.__dict__["_run"] = run
                self.__dict__["_out"] = out_shape

            def call(self, x):
                return self._run(x)

            def compute_output_shape(self, input_shape):
                return (input_shape[0],) + self._out

        return Compiled()


def _mirror_parts(trunk, head):
    """The trunk and head of a mirror-averaged model, for the compiled stand-in.

    The trunk's output is the face's feature maps beside those of its mirror image flipped back
    (2c channels, all in the face's coordinates), so a CAM method weighs both views' channels
    and its map is the averaged model's own; the head flips the second half back, runs the
    network's head on each view and averages the two views' class scores (linear outputs)."""
    import keras
    from keras import layers

    from fer.mirror import mirror_image

    inp = keras.Input(tuple(trunk.input.shape[1:]))
    both = layers.Concatenate(axis=-1)([trunk(inp), mirror_image(trunk(mirror_image(inp)))])
    mtrunk = keras.Model(inp, both)
    if head is None:
        return mtrunk, None
    c = int(trunk.output.shape[-1])
    feat = keras.Input(tuple(both.shape[1:]))
    face_view, mirror_view = feat[..., :c], mirror_image(feat[..., c:])
    mhead = keras.Model(feat, layers.Average()([head(face_view), head(mirror_view)]))
    return mtrunk, mhead


def _mirror_whole(linear):
    """face -> mean of the network's class scores on the face and on its mirror image."""
    import keras
    from keras import layers

    from fer.mirror import mirror_image

    inp = keras.Input(tuple(linear.input.shape[1:]))
    return keras.Model(inp, layers.Average()([linear(inp), linear(mirror_image(inp))]))


def _fast_model(linear, layer: Optional[str], mirror: bool = False):
    """face -> [layer: compiled trunk] -> probabilities: compiled head (linear output).
    `mirror`: the stand-in of the mirror-averaged model around the network `linear`."""
    keras = _keras()

    class FastModel(keras.Model):
        def predict(self, x, batch_size=256, **_):  # Score-CAM's batch predictions, without a progress bar
            x = x[0] if isinstance(x, (list, tuple)) else x
            bs = max(1, int(batch_size))
            return np.concatenate([np.asarray(self([x[i:i + bs]])) for i in range(0, len(x), bs)])

    inp = keras.Input(tuple(linear.input.shape[1:]), name="face")
    if layer is None:
        out = _Compiled.make(_mirror_whole(linear) if mirror else linear, "probabilities")(inp)
    else:
        feat = linear.get_layer(layer).output
        trunk = keras.Model(linear.input, feat)
        head = keras.Model(feat, linear.output)
        if mirror:
            trunk, head = _mirror_parts(trunk, head)
        out = _Compiled.make(head, "probabilities")(_Compiled.make(trunk, layer, stoppable=True)(inp))
    return FastModel([inp], out, name=f"{linear.name}_fast")


class Prepared:
    """A model's linear-output copy and its compiled stand-ins (one per target layer).

    For a mirror-averaged model (`fer.mirror`) the copy is of the network inside, and the
    stand-ins run it on both views: every method explains the averaged model itself."""

    def __init__(self, model):
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

        from fer.mirror import network_of

        network = network_of(model)
        self.mirror = network is not model
        # tf-keras-vis' own clone: clone_model + set_weights, then ReplaceToLinear on the copy
        self.linear = Saliency(network, model_modifier=ReplaceToLinear(), clone=True).model
        self.cam_layer = cam_layer(self.linear)
        self._fast: Dict[tuple, object] = {}
        self._lock = threading.Lock()

    def fast(self, layer: Optional[str] = None, mirror: Optional[bool] = None):
        key = (layer, self.mirror if mirror is None else mirror)
        with self._lock:
            if key not in self._fast:
                self._fast[key] = _fast_model(self.linear, *key)
            return self._fast[key]

    def logits(self, x, batch_size=256) -> np.ndarray:
        """The network's class scores on the faces as given (one view)."""
        return self.fast(self.cam_layer, mirror=False).predict(as_input(x), batch_size=batch_size)

    def probs(self, x, batch_size=256) -> np.ndarray:
        """The model's probabilities: a mirror-averaged model's mean of both views' softmax."""
        x = as_input(x)
        views = (x, x[:, :, ::-1]) if self.mirror else (x,)
        out = []
        for v in views:
            z = self.logits(v, batch_size).astype(np.float64)
            z -= z.max(1, keepdims=True)
            e = np.exp(z)
            out.append(e / e.sum(1, keepdims=True))
        return np.mean(out, axis=0).astype(np.float32)


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def prepared(model) -> Prepared:
    """The cached `Prepared` copy of `model` (built on first use; dropped with the model)."""
    with _CACHE_LOCK:
        prep = _CACHE.get(model)
        if prep is None:
            prep = _CACHE[model] = Prepared(model)
        return prep


def forget(model) -> None:
    """Drop the cached copy (after changing the model's weights in place)."""
    with _CACHE_LOCK:
        _CACHE.pop(model, None)


# ----------------------------------------------------------------------------------------------
# inputs and outputs


def as_input(images) -> np.ndarray:
    """(N,48,48) / (48,48) / (N,48,48,1), uint8 or float 0..255 -> float32 (N,48,48,1)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1:
        raise ValueError(f"expected faces of shape (N,48,48), got {np.shape(images)}")
    return x


def _classes(class_index, n: int) -> list:
    c = np.asarray(class_index, dtype=np.int64).reshape(-1)
    if c.size == 1:
        c = np.repeat(c, n)
    if c.size != n:
        raise ValueError(f"class_index: need one class or {n}, got {c.size}")
    return [int(v) for v in c]


def _finish(maps, n: int) -> np.ndarray:
    """float32 (N,48,48), each map min-max scaled to [0,1] (tf-keras-vis' `normalize` adds an
    epsilon to the range, which flattens maps of tiny gradients; a constant map becomes 0)."""
    m = np.asarray(maps, dtype=np.float64).reshape(n, *np.shape(maps)[-2:])
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    lo = m.min(axis=(1, 2), keepdims=True)
    rng = m.max(axis=(1, 2), keepdims=True) - lo
    m = np.where(rng > 0, (m - lo) / np.where(rng > 0, rng, 1.0), 0.0)
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def _chunks(n: int, size: int):
    for i in range(0, n, max(1, size)):
        stopping.check()  # between batches: a stopping process never waits for a data set's maps
        yield slice(i, min(n, i + size))


# ----------------------------------------------------------------------------------------------
# the methods: small objects with one signature


class Explainer:
    """One attribution method, as tf-keras-vis' `ModelVisualization` subclasses and Xplique's
    explainers are built: its `name`, the `options` it takes (with their defaults), whether it
    `needs_conv` (a layer with spatial feature maps), and one call::

        maps = explainer(model, images, class_index, **options)    # float32 (N,48,48) in [0,1]

    An option the method does not take is an error, never silently dropped; `pick(settings)`
    takes this method's options out of one shared settings dict (for the UI and cache keys).
    """

    name = ""
    options: dict = {}
    needs_conv = False
    forward_only = False  # needs only predictions (any model), not gradients or layers

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size  # how many faces per call to the library: speed only, same maps

    def __call__(self, model, images, class_index, **options) -> np.ndarray:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"{self.name} takes no option {', '.join(map(repr, unknown))}; "
                            f"it takes {', '.join(self.options) or 'none'}")
        return self.explain(model, images, class_index, **{**self.options, **options})

    def explain(self, model, images, class_index, **options) -> np.ndarray:
        raise NotImplementedError

    def pick(self, settings: Optional[dict]) -> dict:
        """The entries of `settings` this method takes (sorted by name)."""
        return {k: settings[k] for k in sorted(self.options) if k in (settings or {})}

    def applies_to(self, model) -> Optional[str]:
        """None when the method works on `model`, else the reason it does not."""
        from fer.guests import is_keras

        if not is_keras(model):
            return _NO_GRADIENTS.format(kind=model.kind.upper() if model.kind == "onnx" else "TFLite")
        return _NO_CONV if self.needs_conv and cam_layer(model) is None else None

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class VanillaSaliency(Explainer):
    """Vanilla gradient (Simonyan et al. 2014): |d class score / d pixel|, tf-keras-vis `Saliency`."""

    name = "Saliency"

    def explain(self, model, images, class_index):
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.scores import CategoricalScore

        x = as_input(images)
        cls = _classes(class_index, len(x))
        prep = prepared(model)
        vis = Saliency(prep.fast(prep.cam_layer), clone=False)
        out = [vis(CategoricalScore(cls[s]), x[s]) for s in _chunks(len(x), self.batch_size)]
        return _finish(np.concatenate([np.reshape(o, (-1, 48, 48)) for o in out]), len(x))


class SmoothGrad(Explainer):
    """SmoothGrad (Smilkov et al. 2017): mean |gradient| over `samples` noisy copies,
    noise sigma = `noise` x (max - min) of each face, as tf-keras-vis' smooth_noise."""

    name = "SmoothGrad"
    options = {"samples": 20, "noise": 0.2, "seed": 0}

    def __init__(self, batch_size: int = 128):
        super().__init__(batch_size)

    def explain(self, model, images, class_index, samples, noise, seed):
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils import normalize
        from tf_keras_vis.utils.scores import CategoricalScore

        x = as_input(images)
        n, samples = len(x), max(1, int(samples))
        cls = _classes(class_index, n)
        rng = np.random.default_rng(seed)
        sigma = float(noise) * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))  # (N,)
        noisy = x[None] + rng.standard_normal((samples,) + x.shape, dtype=np.float32) * sigma[None, :, None, None, None]
        noisy = noisy.reshape((samples * n,) + x.shape[1:])
        tiled = cls * samples
        prep = prepared(model)
        vis = Saliency(prep.fast(prep.cam_layer), clone=False)
        grads = [np.reshape(vis(CategoricalScore(tiled[s]), noisy[s], normalize_map=False), (-1, 48, 48))
                 for s in _chunks(len(noisy), self.batch_size)]
        total = np.concatenate(grads).reshape(samples, n, 48, 48).mean(0)
        return _finish(normalize(total), n)


def _upsample(cams, size=(48, 48)) -> np.ndarray:
    """(N,h,w) -> (N,48,48), bilinear with pixel centres aligned (each cell covers its own
    8x8 block). tf-keras-vis' `scipy.ndimage.zoom(order=1)` aligns the corner pixels instead,
    which moves every cell outwards by up to half a cell (3.5 px at the border for 6x6 -> 48x48)."""
    import tensorflow as tf

    cams = np.asarray(cams, np.float32)
    return tf.image.resize(cams[..., None], size, method="bilinear").numpy()[..., 0]


class _CamExplainer(Explainer):
    """The Grad-CAM family on `layer` (default: LAST_CONV). `upsample`: "centres" (default, see
    `_upsample`) or "tf-keras-vis" (the library's own zoom)."""

    options = {"layer": None, "upsample": "centres"}
    needs_conv = True
    library_class = ""  # "module:Class" in tf_keras_vis

    def _vis_class(self):
        import importlib

        module, cls = self.library_class.split(":")
        return getattr(importlib.import_module(f"tf_keras_vis.{module}"), cls)

    def _library_cams(self, model, images, class_index, layer, chunk, library: bool, **call_options):
        """tf-keras-vis' CAMs, chunk by chunk (float32 (n,h,w)): on the layer's grid, or upsampled
        and normalised by the library itself (`library`)."""
        from tf_keras_vis.utils.scores import CategoricalScore

        prep = prepared(model)
        layer = layer or prep.cam_layer
        if layer is None:
            raise ValueError(f"{self.name}: {_NO_CONV}")
        x = as_input(images)
        cls = _classes(class_index, len(x))
        vis = self._vis_class()(prep.fast(layer), clone=False)
        for s in _chunks(len(x), chunk):
            with _gradient_stops_at_layer():
                cam = vis(CategoricalScore(cls[s]), x[s], penultimate_layer=layer, seek_penultimate_conv_layer=False,
                          expand_cam=library, normalize_cam=library, **call_options)
            cam = np.asarray(cam, np.float32)
            yield cam.reshape((-1,) + cam.shape[-2:])

    def grids(self, model, images, class_index, layer=None, chunk=None, **call_options) -> np.ndarray:
        """The maps before upsampling: float16 (N,h,w) on `layer`'s grid, each scaled to its largest
        magnitude (the final min-max scaling makes that free). `from_grids` turns them into the
        maps; kept results store these, a few kilobytes per face fewer than the maps."""
        out = list(self._library_cams(model, images, class_index, layer, chunk or self.batch_size, False, **call_options))
        cams = np.concatenate(out) if out else np.zeros((0, 1, 1), np.float32)
        peak = np.abs(cams).max(axis=(1, 2), keepdims=True)
        return (cams / np.where(peak > 0, peak, 1.0)).astype(np.float16)

    @staticmethod
    def from_grids(grids) -> np.ndarray:
        """The maps (float32 (N,48,48) in [0,1]) of `grids` (`grids`' output)."""
        grids = np.asarray(grids, np.float32)
        return _finish(_upsample(grids), len(grids)) if len(grids) else np.zeros((0, 48, 48), np.float32)

    def _cam(self, model, images, class_index, layer, upsample, chunk, **call_options):
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}")
        if upsample != "tf-keras-vis":
            return self.from_grids(self.grids(model, images, class_index, layer, chunk, **call_options))
        maps = np.concatenate(list(self._library_cams(model, images, class_index, layer, chunk, True, **call_options)))
        return _finish(maps, len(maps))

    def explain(self, model, images, class_index, layer, upsample):
        return self._cam(model, images, class_index, layer, upsample, self.batch_size)


class GradCAM(_CamExplainer):
    """Grad-CAM (Selvaraju et al. 2017), tf-keras-vis `Gradcam`."""

    name = "Grad-CAM"
    library_class = "gradcam:Gradcam"


class GradCAMPlusPlus(_CamExplainer):
    """Grad-CAM++ (Chattopadhyay et al. 2018), tf-keras-vis `GradcamPlusPlus`."""

    name = "Grad-CAM++"
    library_class = "gradcam_plus_plus:GradcamPlusPlus"


class ScoreCAM(_CamExplainer):
    """Score-CAM (Wang et al. 2020); Faster-Score-CAM with `max_n` > 0: only the `max_n` feature
    maps of highest spatial variance are scored (0 or None: all of them). tf-keras-vis `Scorecam`.
    Faces go one at a time, so each gets its own top-`max_n` channels."""

    name = "Score-CAM"
    options = {"max_n": 10, **_CamExplainer.options}
    library_class = "scorecam:Scorecam"

    def explain(self, model, images, class_index, max_n, layer, upsample):
        prep = prepared(model)
        target = layer or prep.cam_layer
        channels = prep.linear.get_layer(target).output.shape[-1] if target else None
        max_n = None if not max_n or max_n <= 0 or channels is None else min(int(max_n), int(channels))
        return self._cam(model, images, class_index, layer, upsample, 1, max_N=max_n, batch_size=256)


class _ForwardExplainer(Explainer):
    """A method that needs only the model's predictions: it applies to every model, an imported
    TFLite or ONNX one included."""

    forward_only = True

    def applies_to(self, model) -> Optional[str]:
        return None


class Occlusion(_ForwardExplainer):
    """Occlusion (Zeiler & Fergus 2014): the drop of the class's probability when an 8x8 patch of
    the face's mean grey hides each part of it (patches every 4 pixels)."""

    name = "Occlusion"

    def explain(self, model, images, class_index):
        from fer.explain.occlusion import occlusion_maps

        return occlusion_maps(model, as_input(images)[..., 0], class_index, predict=predict)


class Rise(_ForwardExplainer):
    """RISE (Petsiuk et al. 2018): the face through 1000 random smooth masks (7x7 cells, half
    kept, seeded: a rerun gives the same map), each weighted by the class's probability."""

    name = "RISE"

    def explain(self, model, images, class_index):
        from fer.explain.occlusion import rise_maps

        return rise_maps(model, as_input(images)[..., 0], class_index, predict=predict)


METHODS: Dict[str, Explainer] = {m.name: m for m in (VanillaSaliency(), SmoothGrad(), GradCAM(), GradCAMPlusPlus(), ScoreCAM(),
                                                     Occlusion(), Rise())}
# The pages' and commands' default methods on a Keras model: the gradient methods. The forward
# methods (FORWARD_NAMES) are the defaults for an imported TFLite or ONNX model, and a choice on any.
FORWARD_NAMES = tuple(name for name, m in METHODS.items() if getattr(m, "forward_only", False))
METHOD_NAMES = tuple(name for name in METHODS if name not in FORWARD_NAMES)
DEFAULT_OPTIONS = {k: v for m in METHODS.values() for k, v in m.options.items()}  # every option a method takes


def applicable_methods(model) -> Dict[str, Optional[str]]:
    """{method: None if it applies, else the reason it does not}."""
    return {name: m.applies_to(model) for name, m in METHODS.items()}


def default_methods(model) -> tuple:
    """The methods a page shows by default for `model`: the gradient methods that apply to a
    Keras model, the forward methods for an imported TFLite or ONNX one."""
    from fer.guests import is_keras

    if not is_keras(model):
        return FORWARD_NAMES
    ok = applicable_methods(model)
    return tuple(m for m in METHOD_NAMES if ok[m] is None)


def compute_maps(model, images, class_index, methods=None, options=None) -> Dict[str, np.ndarray]:
    """{method: maps (N,48,48)} for the applicable `methods` (default: `default_methods`); `options` is one
    settings dict shared by the methods, each taking its own (an option none takes is an error)."""
    options = options or {}
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise TypeError(f"no method takes option {', '.join(map(repr, unknown))}; options: {', '.join(DEFAULT_OPTIONS)}")
    ok = applicable_methods(model)
    methods = [m for m in (methods or default_methods(model)) if ok.get(m) is None]
    return {m: METHODS[m](model, images, class_index, **METHODS[m].pick(options)) for m in methods}


def predict(model, images) -> np.ndarray:
    """Softmax probabilities (N,7) through the prepared compiled copy (same numbers as the model);
    an imported TFLite or ONNX model's own."""
    from fer.guests import is_keras

    if not is_keras(model):
        from fer.evaluate import predict_proba

        return predict_proba(model, images)
    return prepared(model).probs(as_input(images))


def map_targets(predicted: int, true_class=None) -> list:
    """[(what, class)] a face's maps explain: the true class and the predicted one, or one class
    labelled "true = predicted" when they agree, or the predicted one when the truth is unknown."""
    if true_class is None:
        return [("predicted", int(predicted))]
    if int(true_class) == int(predicted):
        return [("true = predicted", int(predicted))]
    return [("true", int(true_class)), ("predicted", int(predicted))]
