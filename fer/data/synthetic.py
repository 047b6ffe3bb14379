"""The built-in generated dataset: 48x48 grayscale cartoon faces in the 7 FER2013 classes.

Every face is drawn from a small set of *facial-action parameters* (brows, eyes, nose, mouth)
plus *nuisance parameters* (pose, face shape, lighting, hair, occluders, blur, noise). Each class
is a distribution over the action parameters; neighbouring expressions share parameter ranges and
every face has a random expression intensity, so the classes overlap. Measured while tuning
(7,000 train images, 10 epochs, Adam 1e-3, pixels / 255): a 3-conv CNN (171k weights) reaches
about 88 % test accuracy, a 2-hidden-layer MLP (152k weights) about 42 %; an MLP given the true
expression parameters tops out near 96 %.

Region masks
------------
For every image ``Dataset.masks`` holds a uint8 bit field (see ``REGION_BITS``). Bit ``r`` is set on
every pixel whose value can depend on region ``r``'s expression parameters (``REGION_PARAMS[r]``),
for *any* value of those parameters. Construction: each region's strokes are drawn only inside
fixed boxes in the face's own (canonical) coordinates -- the stroke layer is multiplied by the box
indicator -- so the layer is zero outside the boxes whatever the parameters are. The mask is the
same indicator, evaluated at the same pixel centres (so it moves, scales and rotates with the
face), dilated by 1 px because the final 3x3 blur spreads every change by one pixel. Nothing else
in the drawing reads a region's parameters, and all later steps (occluders, lighting, noise,
rounding) work pixel by pixel. Hence: if only region ``r``'s parameters change, every changed pixel
is inside bit ``r``. The masks depend on nuisance parameters only, not on the expression.

Regions: ``brows`` (brow height/slant/inner raise/gather), ``eyes`` (openness, squint),
``nose`` (nose wrinkle, nostril flare *and cheek raise*: the cheeks -- raised cheek bulges and the
nasolabial folds running from the nostrils to the mouth corners -- belong to the nose region, so its
mask covers the nose and both cheeks down to beside the mouth corners), ``mouth`` (curvature,
opening, width, corner asymmetry, upper-lip raise). Boxes of different regions overlap a little
(brows/eyes, cheeks/mouth corners); a pixel may carry several bits.

Rendering is vectorised over images (NumPy distance fields on coordinate grids, computed in
chunks and only inside each component's window, chunks ordered by pose so windows stay small,
two threads): the default 9,000 images take about a second (`python bench/synthetic_speed.py`).
``generate`` is deterministic for a given seed (``np.random.default_rng``; no global RNG), and
``render_batch(ds.params)`` reproduces ``ds.images`` exactly: even the pixel noise is a fixed
pattern chosen by the per-image ``noise_key`` parameter.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import os

import numpy as np

from fer import CLASS_NAMES
from fer import stopping
from fer.data.dataset import GENERATED_NAME, TEST, TRAIN, VAL, Dataset, LoadReport

SIZE = 48

REGION_BITS = {"brows": 1, "eyes": 2, "nose": 4, "mouth": 8}
REGIONS = tuple(REGION_BITS)

# FER2013 training-set class counts (angry, disgust, fear, happy, sad, surprise, neutral).
CLASS_FREQUENCIES = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "sad": 4830,
    "surprise": 3171,
    "neutral": 4965,
}

REGION_PARAMS = {
    "brows": ("brow_height", "brow_slant", "brow_inner", "brow_gather"),
    "eyes": ("eye_open", "eye_squint"),
    "nose": ("nose_wrinkle", "cheek_raise"),
    "mouth": ("mouth_curve", "mouth_open", "mouth_width", "mouth_asym", "upper_lip"),
}
EXPRESSION_PARAMS = tuple(p for r in REGIONS for p in REGION_PARAMS[r])
# All expression parameters live in [-1, 1]; 0 is the rest (neutral) position.

NUISANCE_PARAMS = (
    "shift_x", "shift_y",  # px, +-4
    "scale",  # 0.9 .. 1.1
    "rotation",  # degrees, +-12 (in-plane)
    "face_aspect",  # horizontal stretch of the whole face, 0.92 .. 1.08
    "jaw",  # -1 round .. 1 pointed chin
    "skin", "background", "hair",  # grey levels in [0, 1]
    "hair_line",  # canonical y of the hair line (more negative = higher forehead)
    "brow_dark",  # brow grey level as a fraction of skin
    "light_angle", "light_strength",  # linear lighting gradient across the image
    "blur",  # weight of each neighbour in a 3x3 separable blur, 0 .. 0.22
    "noise",  # std-like amplitude of pixel noise
    "noise_key",  # integer: seeds the per-pixel noise hash
    "glasses",  # 0 none, 1 clear frames, 2 sunglasses (occludes the eyes)
    "hand", "hand_x", "hand_y", "hand_rx", "hand_ry",  # occluding patch (1 = present), pixel units
)
ALL_PARAMS = EXPRESSION_PARAMS + NUISANCE_PARAMS

# Class means of the expression parameters (multiplied by a per-face intensity).
_P = {p: i for i, p in enumerate(EXPRESSION_PARAMS)}


def _mean(**kw):
    v = np.zeros(len(EXPRESSION_PARAMS))
    for k, x in kw.items():
        v[_P[k]] = x
    return v


CLASS_MEANS = {
    "angry": _mean(brow_height=-0.7, brow_slant=0.85, brow_gather=0.7, eye_open=-0.1, eye_squint=0.45,
                   nose_wrinkle=0.15, mouth_curve=-0.3, mouth_open=-0.6, mouth_width=-0.3),
    "disgust": _mean(brow_height=-0.4, brow_slant=0.35, brow_gather=0.4, eye_open=-0.2, eye_squint=0.5,
                     nose_wrinkle=0.9, cheek_raise=0.3, mouth_curve=-0.4, mouth_open=0.05, mouth_asym=0.7,
                     upper_lip=0.85),
    "fear": _mean(brow_height=0.6, brow_slant=-0.2, brow_inner=0.6, brow_gather=0.55, eye_open=0.8,
                  eye_squint=-0.2, mouth_curve=-0.35, mouth_open=0.45, mouth_width=0.6, upper_lip=0.1),
    "happy": _mean(brow_height=0.1, eye_open=-0.2, eye_squint=0.6, cheek_raise=0.85, mouth_curve=0.9,
                   mouth_open=0.0, mouth_width=0.5, upper_lip=0.1),
    "sad": _mean(brow_height=-0.1, brow_slant=-0.5, brow_inner=0.85, brow_gather=0.3, eye_open=-0.35,
                 eye_squint=0.1, mouth_curve=-0.8, mouth_open=-0.1, mouth_width=-0.1),
    "surprise": _mean(brow_height=0.95, brow_slant=-0.1, brow_inner=0.1, brow_gather=-0.1, eye_open=0.9,
                      eye_squint=-0.4, mouth_open=0.9, mouth_width=-0.45),
    "neutral": _mean(),
}

# Difficulty knobs (tuned so a small CNN lands in the 85-95 % range).
INTENSITY_RANGE = (0.35, 1.1)  # per-face expression intensity, uniform
PARAM_JITTER = 0.15  # per-parameter Gaussian jitter (std), all classes
BLEND_PROB = 0.1  # chance a face is partly blended with a neighbouring expression
BLEND_WEIGHT = (0.2, 0.45)  # weight of the neighbour in such a blend
NEIGHBOURS = {
    "angry": ("disgust", "sad"),
    "disgust": ("angry", "sad"),
    "fear": ("surprise", "sad"),
    "happy": ("neutral", "surprise"),
    "sad": ("neutral", "fear", "angry"),
    "surprise": ("fear", "happy"),
    "neutral": ("sad", "happy", "angry"),
}

# Canonical face coordinates: pixel units at scale 1, origin at the face centre, y pointing down.
# Face ellipse radii 16 x 20; eyes at (+-7, -3), brows around y=-9, nostrils y=6.5, mouth y=12.
FACE_CENTRE = (23.5, 25.0)  # pixel position of the canonical origin before shifting
# Drawing components, in drawing order: (region, part, box). Box = (mirrored, u0, u1, v0, v1) in
# canonical coordinates; mirrored=True means one box on each side (u0 <= |u| <= u1). A component is
# drawn only inside its box, so a region's mask is the union of its components' boxes.
COMPONENTS = (
    ("nose", "wrinkles", (False, -3.6, 3.6, -3.0, 2.5)),
    ("nose", "nostrils", (False, -5.0, 5.0, 3.5, 9.0)),
    ("nose", "cheeks", (True, 5.5, 13.5, 0.5, 9.0)),
    ("nose", "folds", (True, 2.4, 10.0, 3.0, 15.0)),
    ("eyes", "eyes", (True, 2.2, 11.8, -7.5, 1.0)),
    ("brows", "brows", (True, 0.3, 14.0, -20.0, -2.0)),
    ("mouth", "mouth", (False, -10.0, 10.0, 4.0, 19.5)),
)
REGION_BOXES = {r: tuple(b for reg, _, b in COMPONENTS if reg == r) for r in REGIONS}

_CHUNK = 256
_THREADS = min(2, os.cpu_count() or 1)  # the target machine has 2 cores
_F = np.float32


# --------------------------------------------------------------------------------------------
# parameter sampling


def class_counts(n: int, balanced: bool = False) -> np.ndarray:
    """Per-class counts summing to n: FER2013 training proportions (largest remainder) or equal."""
    w = np.ones(len(CLASS_NAMES)) if balanced else np.array([CLASS_FREQUENCIES[c] for c in CLASS_NAMES], float)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    rest = n - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def sample_expression(labels: np.ndarray, rng: np.random.Generator) -> dict:
    """Expression parameters (dict name -> float64 (N,)) for the given class labels."""
    labels = np.asarray(labels)
    n = len(labels)
    means = np.stack([CLASS_MEANS[c] for c in CLASS_NAMES])  # (7, P)
    base = means[labels].copy()
    # happy: half the smiles are open (teeth), angry: a quarter are shouting
    u = rng.random(n)
    h = labels == CLASS_NAMES.index("happy")
    base[h, _P["mouth_open"]] = np.where(u[h] < 0.5, 0.0, 0.55)
    a = labels == CLASS_NAMES.index("angry")
    base[a, _P["mouth_open"]] = np.where(u[a] < 0.25, 0.5, -0.6)
    base[a, _P["upper_lip"]] = np.where(u[a] < 0.25, 0.45, 0.0)
    # disgust: the raised corner / lip is on a random side
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    base[:, _P["mouth_asym"]] *= side
    # partial blends with a neighbouring expression
    blend = rng.random(n) < BLEND_PROB
    pick = rng.random(n)
    wgt = rng.uniform(*BLEND_WEIGHT, n)
    for ci, c in enumerate(CLASS_NAMES):
        idx = np.flatnonzero(blend & (labels == ci))
        if len(idx):
            nb = NEIGHBOURS[c]
            which = np.minimum((pick[idx] * len(nb)).astype(int), len(nb) - 1)
            nbm = np.stack([CLASS_MEANS[x] for x in nb])[which]
            base[idx] = (1 - wgt[idx, None]) * base[idx] + wgt[idx, None] * nbm
    k = rng.uniform(*INTENSITY_RANGE, n)
    vals = np.clip(k[:, None] * base + rng.normal(0.0, PARAM_JITTER, base.shape), -1.0, 1.0)
    return {p: vals[:, i].copy() for i, p in enumerate(EXPRESSION_PARAMS)}


def sample_nuisance(n: int, rng: np.random.Generator) -> dict:
    """Nuisance parameters (dict name -> float64 (N,))."""
    u = rng.uniform
    skin = u(0.35, 0.85, n)
    out = {
        "shift_x": u(-4, 4, n),
        "shift_y": u(-4, 4, n),
        "scale": u(0.9, 1.1, n),
        "rotation": u(-12, 12, n),
        "face_aspect": u(0.92, 1.08, n),
        "jaw": u(-1, 1, n),
        "skin": skin,
        "background": u(0.05, 0.95, n),
        "hair": u(0.03, 0.6, n),
        "hair_line": u(-22, -17, n),
        "brow_dark": u(0.25, 0.5, n),
        "light_angle": u(0, 2 * np.pi, n),
        "light_strength": u(0, 0.35, n),
        "blur": u(0, 0.22, n),
        "noise": u(0.005, 0.035, n),
        "noise_key": rng.integers(0, 2**31 - 1, n).astype(np.float64),
    }
    g = rng.random(n)
    out["glasses"] = np.where(g < 0.04, 1.0, np.where(g < 0.07, 2.0, 0.0))
    out["hand"] = (rng.random(n) < 0.04).astype(np.float64)
    out["hand_x"] = u(4, 44, n)
    out["hand_y"] = u(30, 52, n)
    out["hand_rx"] = u(7, 13, n)
    out["hand_ry"] = u(5, 10, n)
    return out


def neutral_expression() -> dict:
    return {p: 0.0 for p in EXPRESSION_PARAMS}


def default_nuisance() -> dict:
    """A centred, upright, evenly lit face with no occluders (handy for tests and demos)."""
    return {
        "shift_x": 0.0, "shift_y": 0.0, "scale": 1.0, "rotation": 0.0, "face_aspect": 1.0, "jaw": 0.0,
        "skin": 0.65, "background": 0.25, "hair": 0.15, "hair_line": -17.0, "brow_dark": 0.4,
        "light_angle": 0.0, "light_strength": 0.0, "blur": 0.1, "noise": 0.02, "noise_key": 1.0,
        "glasses": 0.0, "hand": 0.0, "hand_x": 24.0, "hand_y": 40.0, "hand_rx": 10.0, "hand_ry": 7.0,
    }


# --------------------------------------------------------------------------------------------
# rendering


# np.clip with two bounds has a fast SIMD loop; np.maximum(x, scalar) is several times slower.
_BIG = 3e38


def _clip01(x):
    return np.clip(x, 0.0, 1.0, out=x)


def _pos(x):
    """max(x, 0), in place."""
    return np.clip(x, 0.0, _BIG, out=x)


def _over(img, alpha, colour):
    """img = img * (1 - alpha) + colour * alpha, in place (alpha in [0, 1])."""
    img += alpha * (colour - img)


def _noise_bank(k, salt):
    r = np.random.default_rng(np.random.SeedSequence([20130, salt]))
    return r.standard_normal((k, SIZE, SIZE)).astype(_F)


# Pixel noise = mix of two fixed fields picked by noise_key (61 * 67 = 4087 distinct patterns),
# so render_batch(ds.params) reproduces a dataset's images exactly and cheaply.
_NOISE_A = _noise_bank(61, 1)
_NOISE_B = _noise_bank(67, 2)


class _Win:
    """Canonical coordinates of one chunk inside a pixel window; A = u mirrored onto one side."""

    __slots__ = ("U", "V", "A", "sl")

    def __init__(self, U, V, sl, side):
        self.sl = sl
        self.U = U[sl]
        self.V = V[sl]
        self.A = np.abs(self.U) if side == 0 else (self.U if side > 0 else -self.U)


def _window(T, u0, u1, v0, v1):
    """Pixel window (index tuple) containing the canonical box for every image of the chunk."""
    cx, cy, su, sv_, c, si = T
    us = np.array([u0, u1, u0, u1])[None, :]
    vs = np.array([v0, v0, v1, v1])[None, :]
    a = su[:, None] * us
    b = sv_[:, None] * vs
    x = cx[:, None] + c[:, None] * a - si[:, None] * b
    y = cy[:, None] + si[:, None] * a + c[:, None] * b
    # pixel centres sit at integer coordinates; keep a margin of up to 1 px against rounding
    c0 = min(SIZE, max(0, int(np.floor(x.min()))))
    c1 = min(SIZE, max(c0, int(np.ceil(x.max())) + 1))
    r0 = min(SIZE, max(0, int(np.floor(y.min()))))
    r1 = min(SIZE, max(r0, int(np.ceil(y.max())) + 1))
    return (slice(None), slice(r0, r1), slice(c0, c1))


def _pieces(U, V, T, box):
    """(window, indicator) pairs covering a box; a mirrored box gives one piece per side."""
    mirrored, u0, u1, v0, v1 = box
    if not mirrored:
        w = _Win(U, V, _window(T, u0, u1, v0, v1), 0)
        yield w, (w.U >= u0) & (w.U <= u1) & (w.V >= v0) & (w.V <= v1)
        return
    for side in (1, -1):
        a, b = (u0, u1) if side > 0 else (-u1, -u0)
        w = _Win(U, V, _window(T, a, b, v0, v1), side)
        yield w, (w.A >= u0) & (w.A <= u1) & (w.V >= v0) & (w.V <= v1)


# ---- the expression components. Each draws into `sub` (the window of the image) only where
# `ind` (its box indicator) is true, reading only its own region's parameters and nuisance.


def _draw_wrinkles(sub, w, P, ind):
    A, V = w.A, w.V
    a_w = np.maximum(P["nose_wrinkle"], 0) * _F(0.7)
    dark = P["skin"] * _F(0.55)
    ex = _pos(A - _F(2.2))
    ex *= ex
    for y0 in (-1.2, 0.8):
        d = V - _F(y0) + _F(0.12) * A * A
        d = np.sqrt(d * d + ex)
        a = _clip01(_F(1.0) - d)
        a *= a_w
        a *= ind
        _over(sub, a, dark)


def _draw_nostrils(sub, w, P, ind):
    A, V = w.A, w.V
    wr = P["nose_wrinkle"]
    ny = _F(6.5) - _F(0.9) * wr
    nrx = _F(1.15) + _F(0.35) * np.maximum(wr, 0)
    du = (A - _F(2.3)) / nrx
    dv = (V - ny) * _F(1 / 0.75)
    d = np.sqrt(du * du + dv * dv)
    a = _clip01(_F(1.25) - _F(0.75) * d)
    a *= _F(0.8)
    a *= ind
    _over(sub, a, P["skin"] * _F(0.3))


def _draw_cheeks(sub, w, P, ind):
    ck = P["cheek_raise"]
    du = w.A - _F(9.5)
    dv = w.V - (_F(5.0) - _F(1.2) * ck)
    d = np.sqrt(du * du + dv * dv)
    a = _clip01((_F(2.8) - d) * _F(0.5))
    a *= np.maximum(ck, 0) * _F(0.35)
    a *= ind
    _over(sub, a, np.minimum(P["skin"] * _F(1.3), _F(1.0)))


def _draw_folds(sub, w, P, ind):
    A, V = w.A, w.V
    ck = P["cheek_raise"]
    ckp = np.maximum(ck, 0)
    x0, y0 = _F(3.4), _F(5.8) - _F(1.0) * ck
    x1, y1 = _F(7.6) + _F(0.9) * ckp, _F(13.2) - _F(0.8) * ck
    slope = (y1 - y0) / (x1 - x0)
    xc = np.minimum(np.clip(A, x0, _BIG), x1)
    d = (V - y0 - slope * (xc - x0)) / np.sqrt(_F(1.0) + slope * slope)
    ex = A - xc
    d = np.sqrt(d * d + ex * ex)
    a = _clip01(_F(1.0) - d)
    a *= _F(0.1) + _F(0.45) * ckp
    a *= ind
    _over(sub, a, P["skin"] * _F(0.55))


def _draw_eyes(sub, w, P, ind):
    A, V = w.A, w.V
    op, sq, skin = P["eye_open"], P["eye_squint"], P["skin"]
    hw = _F(3.6) + _F(0.3) * op
    t = (A - _F(7.0)) / hw
    q = _pos(_F(1.0) - t * t)
    hu = _F(1.9) * (_F(1.0) + _F(0.6) * op) * (_F(1.0) - _F(0.25) * np.maximum(sq, 0))
    hl = _F(1.4) * (_F(1.0) + _F(0.45) * op) * (_F(1.0) - _F(0.6) * sq)
    yu = _F(-3.0) - hu * q
    yl = _F(-3.0) + hl * q
    at = np.abs(t)
    a_open = np.minimum(V - yu, yl - V)
    a_open += _F(0.5)
    _clip01(a_open)
    a_open *= _clip01((_F(1.0) - at) * hw + _F(0.5))
    a_open *= ind
    _over(sub, a_open, np.minimum(skin + _F(0.25), _F(0.95)))  # white of the eye
    du = A - _F(7.0)
    dv = V + _F(2.8)
    d = np.sqrt(du * du + dv * dv)
    a = _clip01(_F(2.2) - d)
    a *= a_open
    _over(sub, a, skin * _F(0.2))  # iris
    d = np.abs(V - yu + _F(0.2))
    a = _clip01(_F(1.1) - d)
    a *= _clip01((_F(1.08) - at) * hw + _F(0.5))
    a *= ind
    _over(sub, a, skin * _F(0.25))  # upper lid / lashes


def _draw_brows(sub, w, P, ind):
    A, V = w.A, w.V
    bh, bs, bi, bg = P["brow_height"], P["brow_slant"], P["brow_inner"], P["brow_gather"]
    xi = _F(3.2) - _F(0.9) * bg
    L = _F(11.5) - xi
    t = _clip01((A - xi) / L)
    omt = _F(1.0) - t
    arch = _F(6.0) * (_F(1.0) - _F(0.6) * np.maximum(bi, 0))  # 4 * 1.5 px
    fy = (_F(-9.5) - _F(3.0) * bh) - arch * t * omt + bs * (_F(2.8) * omt - _F(0.7) * t) - _F(3.2) * bi * omt * omt
    dfy = (_F(6.4) * bi * omt - arch * (_F(1.0) - _F(2.0) * t) - _F(3.5) * bs) / L
    d = (V - fy) / np.sqrt(_F(1.0) + dfy * dfy)
    ex = A - (xi + t * L)
    d = np.sqrt(d * d + ex * ex)
    a = _F(2.0) - _F(0.5) * t - d
    _clip01(a)
    a *= _F(0.95)
    a *= ind
    _over(sub, a, P["skin"] * P["brow_dark"])


def _draw_mouth(sub, w, P, ind):
    U, V = w.U, w.V
    mc, mo, mw, ma, ul, skin = (P[k] for k in ("mouth_curve", "mouth_open", "mouth_width", "mouth_asym",
                                               "upper_lip", "skin"))
    mop = np.maximum(mo, 0)
    mon = np.minimum(mo, 0)
    ulp = np.maximum(ul, 0)
    hw = _F(6.5) * (_F(1.0) + _F(0.3) * mw) + _F(0.5) * np.maximum(mc, 0) - _F(0.8) * mop * mop
    t = U / hw
    t2 = t * t
    prof = np.sqrt(_pos(_F(1.0) - t2))
    mid = _F(12.0) - (_F(4.5) * mc + _F(1.6) * ma * t) * t2
    gap = _F(0.7) + _F(0.25) * mon
    yu = mid - gap - (_F(2.5) * mop + _F(1.7) * ulp * (_F(1.0) + _F(0.6) * ma * t)) * prof
    yl = mid + gap + _F(4.4) * mop * prof
    end = _clip01((_F(1.0) - np.abs(t)) * hw + _F(0.5))
    end *= ind
    lt = (_F(1.4) + _F(0.8) * mon) * prof  # lips: thinner when pressed
    a = np.minimum(V - yu + lt, yl + lt - V)
    a += _F(0.5)
    _clip01(a)
    a *= end
    a *= _F(0.3)
    _over(sub, a, skin * _F(0.6))
    a_cav = np.minimum(V - yu, yl - V)  # opening (a dark line when closed)
    a_cav += _F(0.5)
    _clip01(a_cav)
    a_cav *= end
    _over(sub, a_cav, skin * (_F(0.22) - _F(0.08) * mon))
    teeth = _clip01(_F(0.25) + _F(0.8) * mc + _F(0.8) * ulp) * _F(0.9)
    a = yu + (_F(1.8) + _F(0.5) * ulp) - V
    _clip01(a)
    a *= a_cav
    a *= teeth
    a *= _clip01((mid - gap - yu) * _F(0.8))  # only where the upper lip has lifted
    _over(sub, a, np.minimum(skin + _F(0.3), _F(0.95)))  # upper teeth


_DRAW = {"wrinkles": _draw_wrinkles, "nostrils": _draw_nostrils, "cheeks": _draw_cheeks, "folds": _draw_folds,
         "eyes": _draw_eyes, "brows": _draw_brows, "mouth": _draw_mouth}
_COL_KEYS = EXPRESSION_PARAMS + ("skin", "brow_dark")


def _render_chunk(p: dict, n: int):
    """Render n images from parameter arrays p (float64 (n,) each). Returns float32 images, uint8 masks."""
    grid = np.arange(SIZE, dtype=_F)
    X, Y = grid[None, None, :], grid[None, :, None]
    U, V, T = _face_coordinates(p, X, Y)
    img = np.empty((n, SIZE, SIZE), _F)
    img[...] = _column(p, "background")
    _draw_head(img, U, V, p)
    mask = _draw_components(img, U, V, T, p, n)
    _draw_glasses(img, U, V, p)
    _draw_hand(img, X, Y, p)
    img = _light_blur_noise(img, X, Y, p)
    return img, _dilated(mask)


def _column(p, key):
    """A parameter as a float32 (n,1,1) array, to broadcast over the images."""
    return p[key][:, None, None].astype(_F)


def _face_coordinates(p, X, Y):
    """(U, V, T): each pixel in the face's own frame (shifted, rotated, scaled) and the transform."""
    s, asp = p["scale"], p["face_aspect"]
    th = np.deg2rad(p["rotation"])
    c, si = np.cos(th), np.sin(th)
    cx, cy = FACE_CENTRE[0] + p["shift_x"], FACE_CENTRE[1] + p["shift_y"]
    dx = X - _column(p, "shift_x") - _F(FACE_CENTRE[0])  # (n,1,48)
    dy = Y - _column(p, "shift_y") - _F(FACE_CENTRE[1])  # (n,48,1)
    cc = c[:, None, None].astype(_F)
    ss = si[:, None, None].astype(_F)
    U = (cc * dx + ss * dy) * (1.0 / (s * asp))[:, None, None].astype(_F)  # (n,48,48)
    V = (cc * dy - ss * dx) * (1.0 / s)[:, None, None].astype(_F)
    return U, V, (cx, cy, s * asp, s, c, si)


def _draw_head(img, U, V, p):
    """Head and hair, the face with its shading and fringe (nuisance only, no expression)."""
    skin, hair = _column(p, "skin"), _column(p, "hair")
    U2 = U * U
    hv = V + _F(2.0)
    hv *= hv
    hv *= _F(1 / 22.5**2)
    hv += U2 * _F(1 / 18.5**2)
    a = np.sqrt(hv, out=hv)
    a *= _F(-19.0)
    a += np.clip((_F(6.0) - V) * _F(2.0), -_BIG, 19.5)  # fade out below the ears
    _over(img, _clip01(a), hair)

    vpos = np.clip(V, 0.0, _BIG)
    vpos *= vpos
    vpos *= _F(-0.16 / 20.0**2) * (_F(1.0) + _column(p, "jaw"))
    vpos += _F(1.0)  # jaw narrowing factor
    rr = U2 / (vpos * vpos)
    rr *= _F(1 / 16.0**2)
    rr += V * V * _F(1 / 20.0**2)
    shade = _pos(_F(1.0) - rr)
    shade *= _F(0.2)
    shade += _F(0.8)
    shade *= skin
    a = np.sqrt(rr, out=rr)
    a *= _F(-17.0)
    a += _F(17.5)
    _clip01(a)
    fringe = _column(p, "hair_line") + _F(0.5) - V  # hair line curving down at the temples
    fringe += _F(0.025) * U2
    _clip01(fringe)
    shade += fringe * (hair - shade)
    _over(img, a, shade)


def _draw_components(img, U, V, T, p, n):
    """The expression's components, drawn inside their boxes only; returns the mask of the boxes."""
    P = {k: p[k][:, None, None].astype(_F) for k in _COL_KEYS}
    mask = np.zeros((n, SIZE, SIZE), np.uint8)
    for reg, part, box in COMPONENTS:
        bit = np.uint8(REGION_BITS[reg])
        for w, ind in _pieces(U, V, T, box):
            _DRAW[part](img[w.sl], w, P, ind)
            m = mask[w.sl]
            m |= ind.view(np.uint8) * bit
    return mask


def _draw_glasses(img, U, V, p):
    """Glasses (1) or sunglasses (2) over the eyes of the faces that wear them."""
    gl = np.flatnonzero(p["glasses"] > 0)
    if not len(gl):
        return
    Ag, Vg = np.abs(U[gl]), V[gl]
    du = (Ag - _F(7.0)) * _F(1 / 5.6)
    dv = (Vg + _F(3.0)) * _F(1 / 3.9)
    d = (np.sqrt(du * du + dv * dv) - _F(1.0)) * _F(4.5)
    sun = (p["glasses"][gl] == 2)[:, None, None]
    lens = _clip01(_F(0.5) - d)
    rim = _clip01(_F(0.9) - np.abs(d))
    bridge = _clip01(_F(0.9) - np.abs(Vg + _F(4.0))) * (Ag < 2.0)
    a = np.maximum(np.where(sun, np.maximum(lens * _F(0.92), rim), rim), bridge)
    sub = img[gl]
    _over(sub, a, _F(0.08))
    img[gl] = sub


def _draw_hand(img, X, Y, p):
    """A hand (an ellipse of skin, shaded downwards) over part of the faces that have one."""
    hd = np.flatnonzero(p["hand"] > 0)
    if not len(hd):
        return
    hy = p["hand_y"][hd, None, None].astype(_F)
    du = (X - p["hand_x"][hd, None, None].astype(_F)) / p["hand_rx"][hd, None, None].astype(_F)
    dv = (Y - hy) / p["hand_ry"][hd, None, None].astype(_F)
    d = (np.sqrt(du * du + dv * dv) - _F(1.0)) * _F(6.0)
    a = _clip01(_F(0.5) - d)
    sub = img[hd]
    hs = _column(p, "skin")[hd] * _F(0.9) + _F(0.08)
    _over(sub, a, hs * (_F(1.0) - _F(0.015) * np.maximum(Y - hy, 0)))
    img[hd] = sub


def _light_blur_noise(img, X, Y, p):
    """A lighting gradient, a 3x3 blur and noise (pixel by pixel or 3x3 only); returns the images."""
    la, ls = p["light_angle"], p["light_strength"]
    gx = (ls * np.cos(la) / 24.0)[:, None, None].astype(_F)
    gy = (ls * np.sin(la) / 24.0)[:, None, None].astype(_F)
    img *= (_F(1.0) - _F(23.5) * (gx + gy)) + gx * X + gy * Y

    b = _column(p, "blur")
    b0 = _F(1.0) - _F(2.0) * b
    tmp = img * b0
    e = img * b
    tmp[:, :, 1:] += e[:, :, :-1]
    tmp[:, :, :1] += e[:, :, :1]
    tmp[:, :, :-1] += e[:, :, 1:]
    tmp[:, :, -1:] += e[:, :, -1:]
    img = tmp * b0
    e = np.multiply(tmp, b, out=tmp)
    img[:, 1:] += e[:, :-1]
    img[:, :1] += e[:, :1]
    img[:, :-1] += e[:, 1:]
    img[:, -1:] += e[:, -1:]

    key = p["noise_key"].astype(np.int64)
    nz = _NOISE_A[key % len(_NOISE_A)]
    nz += _NOISE_B[(key // len(_NOISE_A)) % len(_NOISE_B)]
    nz *= _column(p, "noise") * _F(0.7071)
    img += nz
    return img


def _dilated(mask):
    """The mask grown by one pixel: the 3x3 blur spreads each change that far."""
    m = mask.copy()
    m[:, :, 1:] |= mask[:, :, :-1]
    m[:, :, :-1] |= mask[:, :, 1:]
    mask[:, 1:] |= m[:, :-1]
    mask[:, :-1] |= m[:, 1:]
    mask |= m
    return mask


def _to_uint8(img):
    img *= _F(255.0)
    img += _F(0.5)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def render_batch(params: dict, chunk: int = _CHUNK):
    """Render faces from parameter arrays (dict name -> (N,), all of ALL_PARAMS).

    Returns (images uint8 (N,48,48), masks uint8 (N,48,48) bit field, see REGION_BITS).
    """
    missing = [k for k in ALL_PARAMS if k not in params]
    if missing:
        raise KeyError(f"missing parameters: {', '.join(missing)}")
    p = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in ALL_PARAMS}
    n = len(p[ALL_PARAMS[0]])
    images = np.empty((n, SIZE, SIZE), np.uint8)
    masks = np.empty((n, SIZE, SIZE), np.uint8)
    # Render in an order that groups similar poses, so each chunk's feature windows stay small
    # (the result does not depend on the order: every pixel is computed on its own).
    order = _pose_order(p, chunk)

    def work(i):
        stopping.check()
        idx = order[i:i + chunk]
        img, m = _render_chunk({k: v[idx] for k, v in p.items()}, len(idx))
        images[idx] = _to_uint8(img)
        masks[idx] = m

    starts = range(0, n, chunk)
    threads = min(_THREADS, len(starts))
    if threads > 1:  # NumPy releases the GIL inside its loops; chunks are independent
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
    else:
        for i in starts:
            work(i)
    return images, masks


def _pose_order(p, chunk):
    """Image order that puts similar (rotation, shift_y, shift_x) next to each other."""
    n = len(p["shift_x"])
    if n <= chunk:
        return np.arange(n)
    nb = max(1, int(round((n / chunk) ** (1 / 3))))

    def bands(x):
        return np.argsort(np.argsort(x, kind="stable"), kind="stable") * nb // n

    rot = bands(p["rotation"])
    sy = bands(p["shift_y"])
    snake = np.where((rot * nb + sy) % 2, -1.0, 1.0)
    return np.lexsort((p["shift_x"] * snake, np.where(rot % 2, nb - 1 - sy, sy), rot))


def render(expression: dict | None = None, nuisance: dict | None = None):
    """Render one face. Missing keys default to neutral_expression() / default_nuisance().

    Either argument may also hold the other kind's keys (e.g. a full row from `param_row`).
    Returns (image uint8 (48,48), mask uint8 (48,48)).
    """
    row = {**neutral_expression(), **default_nuisance()}
    row.update(nuisance or {})
    row.update(expression or {})
    images, masks = render_batch({k: np.array([row[k]]) for k in ALL_PARAMS})
    return images[0], masks[0]


def param_row(ds: Dataset, i: int) -> dict:
    """All drawing parameters of image i of a generated dataset, as a dict of floats."""
    return {k: float(v[i]) for k, v in ds.params.items()}


GENERATOR_VERSION = 1  # bump whenever the same arguments draw different faces


def fingerprint(seed: int, sizes, balanced: bool) -> str:
    """The generated data set's identity: the generator version and its arguments, not a hash of
    the pixels. The same arguments draw the same faces, but float rounding in numpy's vector
    maths can differ between CPUs by a last bit that flips a rare pixel; runs trained on the
    demo faces (the shipped ones too) must still match the demo faces on every machine."""
    key = f"generated:v{GENERATOR_VERSION}:seed={int(seed)}:sizes={tuple(int(s) for s in sizes)}:balanced={bool(balanced)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def generate(n_train: int = 7000, n_val: int = 1000, n_test: int = 1000, seed: int = 0,
             balanced: bool = False) -> Dataset:
    """The built-in generated dataset (images, labels, splits, region masks and parameters).

    Each split holds class counts in FER2013 training proportions (or equal counts if `balanced`);
    images are stored split by split (train, val, test), labels shuffled within each split.
    The same arguments always give byte-identical data.
    """
    sizes = (int(n_train), int(n_val), int(n_test))
    if min(sizes) < 0:
        raise ValueError("split sizes must be >= 0")
    rng = np.random.default_rng(seed)
    labels, splits = [], []
    for code, n in zip((TRAIN, VAL, TEST), sizes):
        lab = np.repeat(np.arange(len(CLASS_NAMES), dtype=np.int64), class_counts(n, balanced))
        labels.append(rng.permutation(lab))
        splits.append(np.full(n, code, np.uint8))
    labels = np.concatenate(labels).astype(np.int64)
    splits = np.concatenate(splits).astype(np.uint8)
    n = len(labels)
    params = sample_expression(labels, rng)
    params.update(sample_nuisance(n, rng))
    images, masks = render_batch(params)
    bal = ", balanced classes" if balanced else ""
    origin = (f"Generated demo faces (built in, seed {seed}{bal}): {sizes[0]} train / {sizes[1]} val / "
              f"{sizes[2]} test \u2014 not real photos; set a FER2013 path to use real data")
    report = LoadReport(notes=["generated data: region masks and drawing parameters available"])
    return Dataset(images=images, labels=labels, splits=splits, fingerprint=fingerprint(seed, sizes, balanced),
                   origin=origin, name=GENERATED_NAME, report=report, masks=masks, params=params)
