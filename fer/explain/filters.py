"""What a conv layer's filters respond to: feature maps of a face, and preferred inputs found by
gradient ascent, two ways:

- `visualize_filters`: ONE batched `tf.GradientTape` ascent for all filters at once. The batch
  holds one image per filter; image i's objective is filter i's mean activation, so a single
  forward/backward pass moves every image towards its own filter. Adam steps in grey levels,
  jitter (the same random roll for the whole batch each step), total-variation and L2 (towards
  mean grey) penalties; the whole loop is one compiled `tf.function`; a fixed seed makes reruns
  identical. For a plain Conv2D layer each image goes through only its own filter of that layer
  (one depthwise convolution over all images' channels) instead of all C filters.
- `visualize_filters_tfkv`: tf-keras-vis' `ActivationMaximization`, one filter per call (the
  library's usual loop), with the same objective, regularisers, optimizer and start images.
  Its input range is set to the models' 0..255 explicitly (tf-keras-vis' default happens to be
  (0, 255) too, but its regularisers then see raw grey levels: here both penalties are computed
  on the face scaled to [0,1], so the weights mean the same thing in both implementations).

The objective of each filter is divided by the layer's mean |activation| on the start images,
so the regularisation weights have the same meaning in every layer.
"""
from __future__ import annotations

import dataclasses
import threading
import warnings
import weakref
from typing import Optional, Sequence

import numpy as np

# tf-keras-vis passes a single input as a one-element list; Keras 3 warns on every step
warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match the expected structure",
                        category=UserWarning)

FILTER_LAYER_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
GRAY = 127.5


@dataclasses.dataclass(frozen=True)
class AscentSettings:
    """Gradient-ascent settings, tuned for 48x48 grayscale faces in 0..255."""

    steps: int = 100
    learning_rate: float = 4.0  # Adam step, in grey levels
    jitter: int = 2  # max random roll per step, pixels
    tv_weight: float = 2.0  # total variation of the face scaled to [0,1]
    l2_weight: float = 1.0  # mean squared distance from mean grey, face scaled to [-1,1]
    seed: int = 0

    def key(self) -> tuple:
        return dataclasses.astuple(self)


@dataclasses.dataclass
class FilterImages:
    images: np.ndarray  # float32 (F,48,48) in 0..255
    filters: np.ndarray  # int (F,) channel index of each image
    activation: np.ndarray  # float32 (F,) each filter's mean activation on its final image
    gray_activation: np.ndarray  # float32 (F,) the same filter's activation on a mean-grey face
    seconds: float = 0.0


def conv_layers(model) -> list:
    """[{name, type, filters, output}] for every Conv2D / DepthwiseConv2D layer, input to output
    (a mirror-averaged model's are its network's)."""
    from fer.mirror import network_of

    model = network_of(model)
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in FILTER_LAYER_TYPES:
            shape = tuple(layer.output.shape[1:])
            out.append({"name": layer.name, "type": kind, "filters": int(shape[-1]), "output": shape})
    return out


# ----------------------------------------------------------------------------------------------
# extractors (model -> layer output), cached per model object and layer

_EXTRACTORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _Extractor:
    def __init__(self, model, layer: str):
        import keras
        import tensorflow as tf

        names = [lay.name for lay in model.layers]
        if layer not in names:
            raise ValueError(f"model {model.name} has no layer {layer!r}")
        target = model.get_layer(layer)
        self.sub = keras.Model(model.inputs, target.output)
        spec = tf.TensorSpec((None,) + tuple(model.input.shape[1:]), tf.float32)
        self.forward = tf.function(lambda x: self.sub(x, training=False), input_signature=[spec])
        self.channels = int(self.sub.output.shape[-1])
        self.ascent = None  # compiled batched ascent, built on first use
        # A plain Conv2D: the ascent runs the model up to the layer's input and then, per image,
        # only that image's own filter (one depthwise conv over all images' channels), instead of
        # all C filters for every image: the layer's own cost drops by a factor C.
        self.pre = None
        if (type(target).__name__ == "Conv2D" and getattr(target, "groups", 1) == 1
                and getattr(target, "data_format", "channels_last") == "channels_last"
                and not isinstance(target.input, (list, tuple))):
            self.pre = _folded_chain(model, target) or keras.Model(model.inputs, target.input)
            self.layer = target

    def single_filter_output(self, x, filters):
        """(F,h,w): image i through filter filters[i] only (Conv2D layers, see `pre`)."""
        import tensorflow as tf

        lay = self.layer
        h = self.pre(x, training=False)  # (F,H,W,Cin)
        n, cin = tf.shape(h)[0], h.shape[-1]
        kh, kw = lay.kernel.shape[0], lay.kernel.shape[1]
        hh = tf.reshape(tf.transpose(h, [1, 2, 0, 3]), [1, tf.shape(h)[1], tf.shape(h)[2], n * cin])
        k = tf.gather(tf.convert_to_tensor(lay.kernel), filters, axis=3)  # (kh,kw,Cin,F)
        kk = tf.reshape(tf.transpose(k, [0, 1, 3, 2]), [kh, kw, n * cin, 1])
        sh, sw = lay.strides
        dh, dw = lay.dilation_rate
        out = tf.nn.depthwise_conv2d(hh, kk, strides=[1, sh, sw, 1], padding=lay.padding.upper(),
                                     dilations=[dh, dw])  # (1,H',W',F*Cin)
        out = tf.reduce_sum(tf.reshape(out, [tf.shape(out)[1], tf.shape(out)[2], n, cin]), axis=-1)
        out = tf.transpose(out, [2, 0, 1])  # (F,H',W')
        if lay.use_bias:
            out = out + tf.gather(tf.convert_to_tensor(lay.bias), filters)[:, None, None]
        if lay.activation is not None:
            out = lay.activation(out)
        return out


def _folded_chain(model, target):
    """The model up to `target`'s input as one function with each Conv2D -> BatchNorm pair folded
    into a single convolution (inference statistics), or None when the path is not a plain chain.

    The ascent runs this part forward and backward 100 times per filter; dropping the BatchNorm
    passes saves ~7% of its time at no change in value (float round-off aside). The fold reads the
    live variables on every call, so it never goes stale.
    """
    import keras

    chain = []
    for lay in model.layers[1:]:
        if lay is target:
            break
        node_inputs = lay._inbound_nodes[0].input_tensors if lay._inbound_nodes else []
        if len(lay._inbound_nodes) != 1 or len(node_inputs) != 1:
            return None
        chain.append(lay)
    else:
        return None
    steps, i = [], 0
    while i < len(chain):
        lay, nxt = chain[i], chain[i + 1] if i + 1 < len(chain) else None
        if (type(lay).__name__ == "Conv2D" and type(nxt).__name__ == "BatchNormalization" and getattr(lay, "groups", 1) == 1
                and lay.activation in (None, keras.activations.linear) and nxt.axis in (-1, [-1], 3, [3])):
            steps.append(lambda x, conv=lay, bn=nxt: _conv_bn(x, conv, bn))
            i += 2
        else:
            steps.append(lambda x, lay=lay: lay(x, training=False))
            i += 1

    def run(x, training=False):
        for step in steps:
            x = step(x)
        return x

    return run


def _conv_bn(x, conv, bn):
    """conv then bn (inference) as one convolution; folded from the live variables on each call."""
    import tensorflow as tf

    scale = tf.math.rsqrt(tf.convert_to_tensor(bn.moving_variance) + bn.epsilon)
    if bn.scale:
        scale = scale * tf.convert_to_tensor(bn.gamma)
    bias = tf.convert_to_tensor(conv.bias) if conv.use_bias else 0.0
    shift = tf.convert_to_tensor(bn.beta) if bn.center else 0.0
    kernel = tf.convert_to_tensor(conv.kernel) * scale
    b = (bias - tf.convert_to_tensor(bn.moving_mean)) * scale + shift
    return tf.nn.conv2d(x, kernel, strides=[1, *conv.strides, 1], padding=conv.padding.upper(),
                        dilations=[1, *conv.dilation_rate, 1]) + b


def _extractor(model, layer: str) -> _Extractor:
    """Cached per network: a mirror-averaged model's layers are its network's, seeing one view."""
    from fer.mirror import network_of

    model = network_of(model)
    with _LOCK:
        per_model = _EXTRACTORS.setdefault(model, {})
        if layer not in per_model:
            per_model[layer] = _Extractor(model, layer)
        return per_model[layer]


def _as_input(images) -> np.ndarray:
    from fer.explain.saliency import as_input

    return as_input(images)


def feature_maps(model, layer: str, images) -> np.ndarray:
    """The layer's output for the faces: float32 (N,H,W,C)."""
    ex = _extractor(model, layer)
    x = _as_input(images)
    return np.concatenate([np.asarray(ex.forward(x[i:i + 128])) for i in range(0, len(x), 128)]).astype(np.float32)


def filter_activation(model, layer: str, images, filters=None) -> np.ndarray:
    """Mean activation of each filter over the face: (N, C), or (N,) with one filter per face."""
    a = feature_maps(model, layer, images).mean(axis=(1, 2))
    if filters is None:
        return a
    return a[np.arange(len(a)), np.asarray(filters)]


# ----------------------------------------------------------------------------------------------
# shared objective pieces


def _tv(x):
    """Mean absolute difference of neighbouring pixels, face scaled to [0,1] (per image)."""
    import tensorflow as tf

    x = x / 255.0
    dy = tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
    dx = tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
    return dx + dy


def _l2(x):
    """Mean squared distance from mean grey, face scaled to [-1,1] (per image)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.square((x - GRAY) / GRAY), axis=(1, 2, 3))


def _start_images(n: int, seed: int) -> np.ndarray:
    """Mean grey plus faint noise (std 8 grey levels): deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    return np.clip(GRAY + 8.0 * rng.standard_normal((n, 48, 48, 1)), 0, 255).astype(np.float32)


def _shifts(steps: int, jitter: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    j = max(0, int(jitter))
    return rng.integers(-j, j + 1, size=(max(1, steps), 2)).astype(np.int32)


def _scale(ex: _Extractor, x0: np.ndarray) -> float:
    """Mean |activation| of the layer on the start images: divides every objective."""
    return float(np.mean(np.abs(np.asarray(ex.forward(x0))))) + 1e-6


def _filters(ex: _Extractor, filters) -> np.ndarray:
    f = np.arange(ex.channels) if filters is None else np.asarray(list(filters), dtype=np.int64)
    if f.size and (f.min() < 0 or f.max() >= ex.channels):
        raise ValueError(f"filter indices must be in 0..{ex.channels - 1}")
    return f


def _gray_activation(ex: _Extractor, f: np.ndarray) -> np.ndarray:
    gray = np.full((1, 48, 48, 1), GRAY, np.float32)
    return np.asarray(ex.forward(gray)).mean(axis=(1, 2))[0, f].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# the batched ascent


def _build_ascent(ex: _Extractor):
    import tensorflow as tf

    img = tf.TensorSpec((None, 48, 48, 1), tf.float32)

    @tf.function(input_signature=[img, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 2), tf.int32),
                                  tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.float32),
                                  tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.float32)])
    def ascent(x0, filters, shifts, lr, tv_w, l2_w, scale):
        b1, b2, eps = 0.9, 0.999, 1e-8
        x, m, v = x0, tf.zeros_like(x0), tf.zeros_like(x0)
        steps = tf.shape(shifts)[0]
        for t in tf.range(steps):
            s = shifts[t]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                xj = tf.roll(x, shift=s, axis=[1, 2])
                if ex.pre is not None:
                    act = tf.reduce_mean(ex.single_filter_output(xj, filters), axis=[1, 2])  # (F,)
                else:
                    a = tf.transpose(ex.sub(xj, training=False), [0, 3, 1, 2])  # (F,C,h,w)
                    act = tf.reduce_mean(tf.gather(a, filters, axis=1, batch_dims=1), axis=[1, 2])
                objective = tf.reduce_sum(act / scale - tv_w * _tv(x) - l2_w * _l2(x))
            g = tape.gradient(objective, x)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            tf_ = tf.cast(t + 1, tf.float32)
            mhat = m / (1 - tf.pow(b1, tf_))
            vhat = v / (1 - tf.pow(b2, tf_))
            x = tf.clip_by_value(x + lr * mhat / (tf.sqrt(vhat) + eps), 0.0, 255.0)
        return x

    return ascent


def visualize_filters(model, layer: str, filters: Optional[Sequence[int]] = None,
                      settings: AscentSettings = AscentSettings(), batch_size: int = 32) -> FilterImages:
    """Every filter's (or `filters`') preferred input by batched gradient ascent.

    Batches of 32 images: measured 12-18% faster than 64 or 16 on this 2-core CPU (a batch's
    48x48x32 activations then stay closer to the caches).
    """
    import time

    import tensorflow as tf

    ex = _extractor(model, layer)
    f = _filters(ex, filters)
    start = time.perf_counter()
    with _LOCK:
        if ex.ascent is None:
            ex.ascent = _build_ascent(ex)
    x0 = _start_images(len(f), settings.seed)
    scale = _scale(ex, x0)
    shifts = tf.constant(_shifts(settings.steps, settings.jitter, settings.seed))
    out = []
    for i in range(0, len(f), batch_size):
        sl = slice(i, i + batch_size)
        if settings.steps <= 0:
            out.append(x0[sl])
            continue
        out.append(np.asarray(ex.ascent(tf.constant(x0[sl]), tf.constant(f[sl], tf.int32), shifts,
                                        tf.constant(settings.learning_rate, tf.float32),
                                        tf.constant(settings.tv_weight, tf.float32),
                                        tf.constant(settings.l2_weight, tf.float32),
                                        tf.constant(scale, tf.float32))))
    images = np.concatenate(out) if out else np.zeros((0, 48, 48, 1), np.float32)
    act = filter_activation(model, layer, images, f) if len(f) else np.zeros(0, np.float32)
    return FilterImages(images=images[..., 0].astype(np.float32), filters=f, activation=act.astype(np.float32),
                        gray_activation=_gray_activation(ex, f), seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------
# tf-keras-vis, one filter at a time


def _tfkv_pieces():
    from tf_keras_vis.activation_maximization.input_modifiers import InputModifier
    from tf_keras_vis.activation_maximization.regularizers import Regularizer

    class SeededJitter(InputModifier):
        """tf-keras-vis' Jitter (a random roll each step), with a seeded list of shifts."""

        def __init__(self, shifts):
            self.shifts, self.i = shifts, 0

        def __call__(self, seed_input):
            import tensorflow as tf

            s = self.shifts[self.i % len(self.shifts)]
            self.i += 1
            return tf.roll(seed_input, shift=(int(s[0]), int(s[1])), axis=(1, 2))

    class TV(Regularizer):
        def __init__(self, weight):
            super().__init__("TotalVariation[0,1]")
            self.weight = float(weight)

        def __call__(self, x):
            return self.weight * _tv(x)

    class L2(Regularizer):
        def __init__(self, weight):
            super().__init__("L2[mean grey]")
            self.weight = float(weight)

        def __call__(self, x):
            return self.weight * _l2(x)

    return SeededJitter, TV, L2


def visualize_filters_tfkv(model, layer: str, filters: Optional[Sequence[int]] = None,
                           settings: AscentSettings = AscentSettings()) -> FilterImages:
    """The same ascent with tf-keras-vis' ActivationMaximization, one filter per call.

    Note tf-keras-vis rolls the image itself for jitter (the shift persists), while the batched
    version rolls only what the model sees; both are jitter regularisation.
    """
    import time

    import keras
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

    from fer.mirror import network_of

    SeededJitter, TV, L2 = _tfkv_pieces()
    ex = _extractor(model, layer)
    f = _filters(ex, filters)
    start = time.perf_counter()
    # ExtractIntermediateLayer builds a new model from the shared one's graph: nothing is mutated
    am = ActivationMaximization(network_of(model), model_modifier=ExtractIntermediateLayer(layer), clone=False)
    x0 = _start_images(len(f), settings.seed)
    scale = _scale(ex, x0)
    shifts = _shifts(settings.steps, settings.jitter, settings.seed)
    out = []
    for i, filt in enumerate(f):
        if settings.steps <= 0:
            out.append(x0[i:i + 1])
            continue
        score = (lambda k: lambda output: tf.reduce_mean(output[..., k], axis=(1, 2)) / scale)(int(filt))
        img = am(score, seed_input=x0[i:i + 1], input_range=(0.0, 255.0),
                 input_modifiers=[SeededJitter(shifts)], regularizers=[TV(settings.tv_weight), L2(settings.l2_weight)],
                 steps=settings.steps, optimizer=keras.optimizers.Adam(settings.learning_rate))
        out.append(np.asarray(img).reshape(1, 48, 48, 1))
    images = np.concatenate(out) if out else np.zeros((0, 48, 48, 1), np.float32)
    act = filter_activation(model, layer, images, f) if len(f) else np.zeros(0, np.float32)
    return FilterImages(images=images[..., 0].astype(np.float32), filters=f, activation=act.astype(np.float32),
                        gray_activation=_gray_activation(ex, f), seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------
# Fourier-space parametrisation with transformation robustness (as Lucid and Xplique do)


@dataclasses.dataclass(frozen=True)
class FourierSettings:
    """Preferred inputs parametrised by their spatial spectrum: each image is
    255 x sigmoid(irfft2(spectrum x 1/frequency)), so the ascent moves low frequencies as easily
    as high ones (pixel-space steps mostly add high-frequency noise, which the TV penalty then
    fights); every step sees the image rolled, scaled and rotated at random, so only patterns that
    survive small moves grow. No colour decorrelation: the faces are grayscale."""

    steps: int = 100
    learning_rate: float = 0.05  # Adam, on the spectrum's coefficients
    jitter: int = 2  # pixels
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    rotate: float = 5.0  # degrees, random in [-rotate, rotate]
    decay: float = 1.0  # spectrum scaling 1 / f**decay
    seed: int = 0

    def key(self) -> tuple:
        return dataclasses.astuple(self)


def _spectrum_scale(decay: float) -> np.ndarray:
    fy = np.fft.fftfreq(48)[:, None]
    fx = np.fft.rfftfreq(48)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return (1.0 / np.maximum(f, 1.0 / 48) ** decay).astype(np.float32)


def _transforms(settings: FourierSettings) -> np.ndarray:
    """(steps, 8) projective transforms (output -> input pixel maps) about the image centre."""
    rng = np.random.default_rng(settings.seed + 7)
    out = []
    c = 23.5
    for _ in range(max(1, settings.steps)):
        s = 1.0 + rng.uniform(-settings.scale, settings.scale)
        a = np.deg2rad(rng.uniform(-settings.rotate, settings.rotate))
        dx, dy = rng.integers(-settings.jitter, settings.jitter + 1, size=2)
        cos, sin = np.cos(a) / s, np.sin(a) / s
        # input = R/s (output - centre) + centre - shift
        out.append([cos, -sin, c - cos * c + sin * c - dx, sin, cos, c - sin * c - cos * c - dy, 0.0, 0.0])
    return np.asarray(out, np.float32)


def _build_fourier(ex: _Extractor):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, 48, 25), tf.float32), tf.TensorSpec((None, 48, 25), tf.float32),
                                  tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 8), tf.float32),
                                  tf.TensorSpec((48, 25), tf.float32), tf.TensorSpec((), tf.float32),
                                  tf.TensorSpec((), tf.float32)])
    def ascent(re0, im0, filters, transforms, spectrum_scale, lr, scale):
        b1, b2, eps = 0.9, 0.999, 1e-8
        re, im = re0, im0
        mr, mi, vr, vi = tf.zeros_like(re0), tf.zeros_like(im0), tf.zeros_like(re0), tf.zeros_like(im0)
        for t in tf.range(tf.shape(transforms)[0]):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([re, im])
                x = _fourier_image(re, im, spectrum_scale)  # (F,48,48,1) in 0..255
                n = tf.shape(x)[0]
                xt = tf.raw_ops.ImageProjectiveTransformV3(
                    images=x, transforms=tf.tile(transforms[t][None], [n, 1]), output_shape=tf.constant([48, 48]),
                    fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
                if ex.pre is not None:
                    act = tf.reduce_mean(ex.single_filter_output(xt, filters), axis=[1, 2])
                else:
                    a = tf.transpose(ex.sub(xt, training=False), [0, 3, 1, 2])
                    act = tf.reduce_mean(tf.gather(a, filters, axis=1, batch_dims=1), axis=[1, 2])
                objective = tf.reduce_sum(act / scale)
            gr, gi = tape.gradient(objective, [re, im])
            tf_ = tf.cast(t + 1, tf.float32)
            c1, c2 = 1 - tf.pow(b1, tf_), 1 - tf.pow(b2, tf_)
            mr, mi = b1 * mr + (1 - b1) * gr, b1 * mi + (1 - b1) * gi
            vr, vi = b2 * vr + (1 - b2) * gr * gr, b2 * vi + (1 - b2) * gi * gi
            re = re + lr * (mr / c1) / (tf.sqrt(vr / c2) + eps)
            im = im + lr * (mi / c1) / (tf.sqrt(vi / c2) + eps)
        return _fourier_image(re, im, spectrum_scale)

    return ascent


def _fourier_image(re, im, spectrum_scale):
    import tensorflow as tf

    z = tf.signal.irfft2d(tf.complex(re * spectrum_scale, im * spectrum_scale), fft_length=[48, 48]) * 48.0
    return (255.0 * tf.sigmoid(z))[..., None]


def visualize_filters_fourier(model, layer: str, filters: Optional[Sequence[int]] = None,
                              settings: FourierSettings = FourierSettings(), batch_size: int = 32) -> FilterImages:
    """Every filter's (or `filters`') preferred input, Fourier-parametrised (see FourierSettings),
    batched as `visualize_filters`: image i of a batch ascends filter i's mean activation."""
    import time

    import tensorflow as tf

    ex = _extractor(model, layer)
    f = _filters(ex, filters)
    start = time.perf_counter()
    with _LOCK:
        if getattr(ex, "fourier", None) is None:
            ex.fourier = _build_fourier(ex)
    rng = np.random.default_rng(settings.seed)
    re0 = (0.01 * rng.standard_normal((len(f), 48, 25))).astype(np.float32)
    im0 = (0.01 * rng.standard_normal((len(f), 48, 25))).astype(np.float32)
    scale = _scale(ex, _start_images(max(1, min(len(f), 8)), settings.seed))
    transforms = tf.constant(_transforms(settings))
    spectrum = tf.constant(_spectrum_scale(settings.decay))
    out = []
    for i in range(0, len(f), batch_size):
        sl = slice(i, i + batch_size)
        if settings.steps <= 0:
            out.append(np.asarray(_fourier_image(tf.constant(re0[sl]), tf.constant(im0[sl]), spectrum)))
            continue
        out.append(np.asarray(ex.fourier(tf.constant(re0[sl]), tf.constant(im0[sl]), tf.constant(f[sl], tf.int32),
                                         transforms, spectrum, tf.constant(settings.learning_rate, tf.float32),
                                         tf.constant(scale, tf.float32))))
    images = np.concatenate(out) if out else np.zeros((0, 48, 48, 1), np.float32)
    act = filter_activation(model, layer, images, f) if len(f) else np.zeros(0, np.float32)
    return FilterImages(images=images[..., 0].astype(np.float32), filters=f, activation=act.astype(np.float32),
                        gray_activation=_gray_activation(ex, f), seconds=time.perf_counter() - start)
