"""A conv layer of a model as a function of the face: its feature maps, each filter's mean
activation, and the compiled extractor the ascents run (cached per network and layer)."""
from __future__ import annotations

import threading
import weakref

import numpy as np

FILTER_LAYER_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")


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

    chain, previous = [], model.inputs[0]
    for lay in model.layers[1:]:
        if lay is target:
            break
        node_inputs = lay._inbound_nodes[0].input_tensors if lay._inbound_nodes else []
        if len(lay._inbound_nodes) != 1 or len(node_inputs) != 1:
            return None
        if node_inputs[0] is not previous:  # a branch (a residual shortcut's input): not this layer's path
            return None
        chain.append(lay)
        previous = lay.output
    else:
        return None
    if target.input is not previous:
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
