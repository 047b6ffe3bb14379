"""How long a training will take on this machine, said before it starts (the Train page, the queue).

    seconds = estimate_seconds(config, n_train, runs, n_val=1000, n_test=1000)

A training's time, fitted to measured trainings (`bench/train_estimates.py`):

    trace_s + post_s + epochs * (epoch_s + (n_train + n_val / val_factor) / ips) + (3 n_val + 2 n_test) / (EVAL_SPEEDUP * ips)

`trace_s` is model build and graph tracing, `epoch_s` each epoch's fixed part (the precise-
BatchNorm pass, callbacks, the validation set-up), `post_s` the final bookkeeping; the last term
is the final scoring (validation three times: before and after BatchNorm re-estimation and for
the record; the test split plain and mirrored). `ips` is the steady training speed at the
architecture's reference width, scaled by (width / reference) ** -exponent and by
(batch / 64) ** 0.25 (smaller batches are slower per image on a CPU). It comes from a run of
the same architecture on this machine (on the same data and MobileNet design when there is
one: `throughput`), else from SPEEDS; a MobileNet of another design (stem, head, blocks,
upsampling, depth) is scaled by the two designs' FLOPs at the same width.
"""
from __future__ import annotations

import functools
import math
import platform
from dataclasses import dataclass
from typing import Optional

EVAL_SPEEDUP = 1.8  # scoring images/s over training images/s (batches of 256, no gradient)


@dataclass(frozen=True)
class Speed:
    width: float  # the reference width the figures are for
    ips: float  # steady training images/s at batch 64
    exponent: float  # ips ~ width ** -exponent
    val_factor: float  # a validation image costs 1 / val_factor training images (fitted)
    trace_s: float
    epoch_s: float
    post_s: float


# Fitted (least squares on relative error) to 29 trainings on this project's 2-core CPU:
# tensorflow-cpu 2.21, the generated faces, 1 to 12 epochs of 2,000 to 7,000 faces, batch 32 and
# 64, two widths per architecture (`python bench/train_estimates.py` prints the check).
SPEEDS = {
    "cnn": Speed(width=0.25, ips=1029.0, exponent=0.83, val_factor=0.5, trace_s=3.2, epoch_s=1.6, post_s=2.0),
    "mobilenet": Speed(width=0.5, ips=1238.0, exponent=1.22, val_factor=1.3, trace_s=3.3, epoch_s=3.6, post_s=2.0),
    "dnn": Speed(width=0.5, ips=10857.0, exponent=1.43, val_factor=6.3, trace_s=1.8, epoch_s=0.55, post_s=0.5),
}
MIN_TIMED_S = 30.0  # a run shorter than this is mostly tracing: its speed says little


def _speed(arch: str) -> Speed:
    return SPEEDS.get(arch, SPEEDS["cnn"])


def _scale(arch: str, width: float, from_width: float, batch: int = 64, from_batch: int = 64) -> float:
    s = _speed(arch)
    ratio = (max(width, 0.05) / max(from_width, 0.05)) ** -s.exponent
    return ratio * (max(batch, 1) / max(from_batch, 1)) ** 0.25


DESIGN_KEYS = ("depth", "stem", "head", "blocks", "upsample")  # the MobileNet options that change its cost


def design_of(arch: str, options) -> tuple:
    """A MobileNet's design as a hashable key ((option, value) pairs; () is the course's at its
    default depth); other architectures scale by width alone."""
    if arch != "mobilenet":
        return ()
    from fer.architectures import DEFAULT_DEPTH

    options = {**(options or {})}
    if options.get("depth") == DEFAULT_DEPTH["mobilenet"]:
        options.pop("depth")
    return tuple((k, options[k]) for k in DESIGN_KEYS if options.get(k) is not None)


@functools.lru_cache(maxsize=64)
def _flops(arch: str, width: float, design: tuple) -> int:
    from fer.models import build_model, count_flops

    return count_flops(build_model(arch, width, **dict(design)))


def _design_factor(arch: str, width: float, measured: tuple, wanted: tuple) -> float:
    """Speed of `wanted` over that of the `measured` design: their FLOPs' inverse ratio."""
    if measured == wanted:
        return 1.0
    return _flops(arch, width, measured) / _flops(arch, width, wanted)


def _epoch_units(arch: str, n_train: float, n_val: float) -> float:
    return n_train + n_val / _speed(arch).val_factor


def throughput(arch: str, width: float, runs=(), host: Optional[str] = None, batch_size: int = 64,
               fingerprint: Optional[str] = None, options=None):
    """(training images/s, where the figure comes from) for `arch` at `width` on this machine.

    From the run on this host with the same architecture, on the same data (`fingerprint`) if
    there is one, of the same design (`options`, a MobileNet's) if there is one, and the nearest
    width: its fit time less the fixed parts, over its epochs' work (runs under MIN_TIMED_S and
    distilled runs are skipped); else from SPEEDS (the course's design). Either is scaled to
    `width`, `batch_size` and the design's FLOPs. The same data first: FER2013 runs trained at
    about half the generated faces' speed per image here (augmented, on a CPU shared with other work).
    """
    wanted = design_of(arch, options)
    host = host or platform.node()
    s = _speed(arch)
    best = None
    for run in runs:
        meta = getattr(run, "meta", {}) or {}
        if meta.get("arch") != arch or (meta.get("machine") or {}).get("host") not in (host, None):
            continue
        if meta.get("teacher"):  # its wall time includes the teacher's share
            continue
        try:
            data, wall = meta["dataset"], float(meta["wall_time_s"])
            epochs = float(meta.get("epochs_run") or len(meta["history"]["loss"]))
            steady = max(wall - s.trace_s - epochs * s.epoch_s, 0.1 * wall)
            ips = epochs * _epoch_units(arch, float(data["train"]), float(data.get("val", 0))) / steady
            w = float(meta.get("width", 1.0))
            batch = int((meta.get("config") or {}).get("batch_size") or 64)
            design = design_of(arch, meta.get("options"))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if not math.isfinite(ips) or ips <= 0 or wall < MIN_TIMED_S:
            continue
        other_data = fingerprint is not None and (meta.get("dataset") or {}).get("fingerprint") != fingerprint
        # the same data, then the same design, the nearest width, the longest
        key = (other_data, design != wanted, round(abs(math.log(max(w, 0.05) / max(width, 0.05))), 3), -wall)
        if best is None or key < best[0]:
            best = (key, ips * _scale(arch, width, w, batch_size, batch), getattr(run, "id", "a run"), design)
    if best is not None:
        return best[1] * _design_factor(arch, width, best[3], wanted), f"measured by run {best[2]} on this machine"
    return s.ips * _scale(arch, width, s.width, batch_size) * _design_factor(arch, width, (), wanted), "measured on a 2-core CPU"


def split_sizes(dataset) -> dict:
    """{'n_val', 'n_test', 'fingerprint'} of a data set: the estimates' keyword arguments."""
    try:
        return {"n_val": int(len(dataset.indices("val"))), "n_test": int(len(dataset.indices("test"))),
                "fingerprint": dataset.fingerprint}
    except (AttributeError, TypeError):
        return {}


def estimate_seconds(config, n_train: int, runs=(), host: Optional[str] = None, n_val: int = 1000,
                     n_test: int = 1000, fingerprint: Optional[str] = None) -> float:
    """Wall-clock seconds of a training without early stopping (see the module doc)."""
    arch = config.arch
    ips, _ = throughput(arch, config.width, runs, host, config.batch_size, fingerprint, config.model_options())
    s = _speed(arch)
    n_val = n_val or n_train  # tiny data sets validate on the training images
    per_epoch = s.epoch_s + _epoch_units(arch, max(n_train, 1), n_val) / ips
    teacher = next((r for r in runs if r.id == config.teacher), None) if config.teacher else None
    if teacher is not None:  # distillation: the teacher also scores every training and validation image
        t_arch = teacher.meta.get("arch", "cnn")
        t_ips = throughput(t_arch, float(teacher.meta.get("width", 1.0)), runs, host, 64, fingerprint)[0] * EVAL_SPEEDUP
        per_epoch += (max(n_train, 1) + n_val) / t_ips
    final = (3 * n_val + 2 * n_test) / (EVAL_SPEEDUP * ips)
    return s.trace_s + s.post_s + config.epochs * per_epoch + final


def estimate_text(config, n_train: int, runs=(), host: Optional[str] = None, n_val: int = 1000,
                  n_test: int = 1000, fingerprint: Optional[str] = None) -> str:
    """'about 36 s (850 training images/s, measured on a 2-core CPU)' for the pages."""
    ips, basis = throughput(config.arch, config.width, runs, host, config.batch_size, fingerprint, config.model_options())
    seconds = estimate_seconds(config, n_train, runs, host, n_val, n_test, fingerprint)
    return f"about {format_duration(seconds)} ({ips:,.0f} training images/s, {basis})"


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 90:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"
