"""Real-data loaders: Kaggle's fer2013.csv, the course-style train.csv, and image folders.

`load_dataset` is the one entry point: it resolves the source, consults the cache
(fer.data.cache) and returns a `Dataset`. Bad input raises `DataError` with a one-line message
that names the file (and the CSV line, header = line 1); when only a few items are bad
(at most MAX_BAD_FRACTION of them, and at least one good one) they are skipped and listed in
`Dataset.report` instead.

Heavy imports (pandas, Pillow, scikit-learn) happen inside the functions that need them, so
`import fer.data` stays cheap.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from fer import CLASS_NAMES, IMAGE_SIZE, settings, stopping
from fer.data import cache as _cache
from fer.data.dataset import SPLITS, TEST, TRAIN, VAL, DataError, Dataset, LoadReport

N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
MAX_BAD_FRACTION = 0.01  # skip bad rows/files only if at most this share of all is bad
MAX_IMAGE_PIXELS = 6000 * 6000  # larger images are refused (reported), never decoded
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
SYNTHETIC_NAMES = ("synthetic", "generated")
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv", "train.csv")
SPLIT_FOLDERS = {
    "train": TRAIN, "training": TRAIN,
    "val": VAL, "valid": VAL, "validation": VAL,
    "test": TEST, "testing": TEST,
}
USAGE_CODES = {
    "training": TRAIN, "train": TRAIN,
    "publictest": VAL, "val": VAL, "validation": VAL,
    "privatetest": TEST, "test": TEST,
}
LABEL_COLUMNS = ("emotion", "label")
PIXEL_COLUMNS = ("pixels", "feature", "features")
_IGNORED_NAMES = ("__macosx", "thumbs.db", "desktop.ini")


# --------------------------------------------------------------------------------------
# public entry point


def load_dataset(
    source=None,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    cache_dir=None,
    use_cache: bool = True,
    progress=None,
) -> Dataset:
    """Load a FER dataset.

    source: None (env FER_DATA if set, else the generated dataset), "synthetic"/"generated",
      a Kaggle fer2013.csv (emotion,pixels,Usage), a course train.csv (label,feature), a folder
      holding one of those, or a folder with train/<class>/ (and optionally val/, test/).
    seed, val_fraction, test_fraction: how val/test are held out (stratified) where the source
      has no such split. For a CSV without Usage and for train-only folders both fractions are
      of all images; with a test/ folder, val_fraction is of the train/ images.
    cache_dir: where the .npz cache lives (default env FER_CACHE_DIR or ~/.cache/fer-workbench).
    progress: optional callable(fraction: float, message: str) for long loads.
    """
    _check_fractions(val_fraction, test_fraction)
    if source is None:
        source = settings.data_source() or "synthetic"
    if isinstance(source, str) and source.strip().lower() in SYNTHETIC_NAMES:
        from fer.data import synthetic  # written alongside; imported lazily

        return synthetic.generate(seed=seed)

    kind, path = resolve_source(source)
    scan = None
    if kind == "folders":
        scan = scan_image_folders(path)
        signature = _cache.listing_signature(scan.listing)
    else:
        signature = _cache.file_signature(path)

    notes = []
    cfile = key = None
    if use_cache:
        cdir = Path(cache_dir).expanduser() if cache_dir is not None else _cache.default_cache_dir()
        key = _cache.make_key(kind, path, signature, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
        cfile = _cache.cache_file(cdir, path.stem if kind == "csv" else path.name, key)
        ds, status = _cache.read(cfile, key)
        if ds is not None:
            return ds
        if status == "corrupt":
            notes.append(f"cache file {cfile} was unreadable and has been rebuilt")

    common = dict(seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, progress=progress)
    ds = load_csv(path, **common) if kind == "csv" else load_image_folders(path, scan=scan, **common)
    if use_cache:
        try:
            _cache.write(cfile, key, ds)
        except OSError as e:
            notes.append(f"could not write cache {cfile} ({e.strerror or e})")
    ds.report.notes.extend(notes)  # about this load only: not stored in the cache
    return ds


def resolve_source(source):
    """Return ("csv" | "folders", Path) for a user-given path, or raise DataError."""
    path = Path(os.path.expanduser(str(source)))
    if not os.path.lexists(path):
        raise DataError(f"{path}: no such file or folder")
    if not path.exists():
        raise DataError(f"{path}: broken symbolic link")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise DataError(f"{path}: not readable (permission denied)")
    if path.is_file():
        low = path.name.lower()
        if low.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".7z", ".rar")) and not low.endswith(".csv.zip"):
            raise DataError(f"{path}: an archive; unpack it first and point at the folder or the .csv inside")
        return "csv", path
    if not path.is_dir():
        raise DataError(f"{path}: not a regular file or folder")
    try:
        names = {p.name.lower(): p for p in path.iterdir()}
    except OSError as e:
        raise DataError(f"{path}: cannot list folder ({e.strerror or e})") from None
    for csv_name in CSV_NAMES[:2]:
        if csv_name in names and names[csv_name].is_file():
            return resolve_source(names[csv_name])
    if any(n in SPLIT_FOLDERS and p.is_dir() for n, p in names.items()) or any(
        n.strip() in CLASS_NAMES and p.is_dir() for n, p in names.items()
    ):
        return "folders", path
    if CSV_NAMES[2] in names and names[CSV_NAMES[2]].is_file():
        return resolve_source(names[CSV_NAMES[2]])
    raise DataError(
        f"{path}: found no fer2013.csv, train.csv or train/<class>/ image folders "
        f"(class folders are named {', '.join(CLASS_NAMES)})"
    )


# --------------------------------------------------------------------------------------
# shared helpers


def _check_fractions(val_fraction, test_fraction):
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (isinstance(f, (int, float)) and 0 <= f < 1):
            raise ValueError(f"{name} must be in [0, 1), got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")


def _too_many_bad(n_bad: int, n_total: int) -> bool:
    return n_bad > 0 and (n_bad >= n_total or n_bad > MAX_BAD_FRACTION * n_total)


def _bad_summary(n_bad: int, n_total: int, what: str) -> str:
    if n_bad >= n_total:
        return "" if n_total == 1 else f" (none of the {n_total} {what}s is usable)"
    return (
        f" ({n_bad} of {n_total} {what}s are bad, more than {MAX_BAD_FRACTION:.0%}, so they are not skipped;"
        " fix or remove them)"
    )


def _holdout(labels: np.ndarray, idx: np.ndarray, n_out: int, seed: int) -> np.ndarray:
    """A stratified (where possible) random subset of `idx` of size n_out, sorted."""
    n = len(idx)
    n_out = min(int(n_out), n - 1)
    if n_out <= 0:
        return idx[:0]
    from sklearn.model_selection import train_test_split

    y = labels[idx]
    _, counts = np.unique(y, return_counts=True)
    k = len(counts)
    stratify = y if counts.min() >= 2 and n_out >= k and n - n_out >= k else None
    _, out = train_test_split(idx, test_size=n_out, random_state=seed, shuffle=True, stratify=stratify)
    return np.sort(out)


def _assign_holdouts(labels, splits, *, seed, val_fraction, test_fraction, report, hold_test, base_for_val=None):
    """Move images from train to test (if hold_test) and val, in place. Fractions are of
    len(labels) unless base_for_val gives the count val_fraction applies to."""
    n_all = int((splits == TRAIN).sum()) if base_for_val is None else base_for_val
    held = []
    if hold_test and test_fraction > 0:
        train_idx = np.flatnonzero(splits == TRAIN)
        out = _holdout(labels, train_idx, math.ceil(test_fraction * n_all), seed)
        splits[out] = TEST
        held.append(f"test {len(out)}")
    if val_fraction > 0:
        train_idx = np.flatnonzero(splits == TRAIN)
        out = _holdout(labels, train_idx, math.ceil(val_fraction * n_all), seed + 1)
        splits[out] = VAL
        held.append(f"val {len(out)}")
    if held:
        report.notes.append(f"held out {' and '.join(held)} from train (stratified, seed {seed})")


def _finish(images, labels, splits, *, name, origin_prefix, report) -> Dataset:
    counts = np.bincount(splits, minlength=3)
    origin = f"{origin_prefix} (" + " / ".join(f"{s} {c}" for s, c in zip(SPLITS, counts)) + ")"
    for s, c in zip(SPLITS, counts):
        if c == 0:
            report.notes.append(f"no {s} images")
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    splits = np.ascontiguousarray(splits, dtype=np.uint8)
    return Dataset(
        images=images,
        labels=labels,
        splits=splits,
        fingerprint=_cache.dataset_fingerprint(images, labels, splits),
        origin=origin,
        name=name,
        report=report,
    )


def _one_line(text, limit=160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# CSV


_DIGIT = np.zeros(256, bool)
_DIGIT[48:58] = True
_SPACE = np.zeros(256, bool)
_SPACE[[9, 13, 32]] = True  # tab, CR, space
_TOKEN = re.compile(r"[0-9]+")
_SPLIT = re.compile(r"[ \t\r]+")


def parse_pixel_strings(strings, n_pixels: int = N_PIXELS, chunk_rows: int = 2048):
    """Vectorised parse of space-separated pixel strings.

    Returns (pixels uint8 (n_ok, n_pixels), ok bool (n,)): a row is ok when it holds exactly
    n_pixels decimal integers 0..255 separated by spaces/tabs and nothing else.
    Use `pixel_problem` to explain why a row is not ok.
    """
    strings = list(strings)
    n = len(strings)
    ok = np.zeros(n, bool)
    out = []
    for c0 in range(0, n, chunk_rows):
        enc = [s.encode("utf-8", "surrogatepass") for s in strings[c0 : c0 + chunk_rows]]
        m = len(enc)
        lens = np.fromiter(map(len, enc), np.int64, m)
        # two spaces in front and behind: every token has a non-digit on both sides
        b = np.frombuffer(b"  " + b" ".join(enc) + b"  ", np.uint8)
        starts = np.empty(m, np.int64)
        starts[0] = 2
        np.cumsum(lens[:-1] + 1, out=starts[1:])
        starts[1:] += 2
        d = b - np.uint8(48)  # digits become 0..9, everything else >= 10
        isd = d < 10
        bad = np.zeros(m, bool)
        other = np.flatnonzero(~isd & (b != 32))
        if other.size:
            other = other[~_SPACE[b[other]]]
            if other.size:
                bad[np.searchsorted(starts, other, "right") - 1] = True
        endm = isd[:-1] & ~isd[1:]  # a token ends here
        tend = np.flatnonzero(endm)
        counts = np.diff(np.searchsorted(tend, np.append(starts, len(b))))
        val = d[tend].astype(np.int16)
        d1 = d[tend - 1]
        m1 = d1 < 10
        val += np.where(m1, d1, 0).astype(np.int16) * 10
        d2 = d[tend - 2]
        m2 = m1 & (d2 < 10)
        val += np.where(m2, d2, 0).astype(np.int16) * 100
        for i in np.flatnonzero(m2 & isd[tend - 3]):  # 4+ digits: leading zeros or too big (rare)
            j = tend[i]
            k = j
            while isd[k - 1]:
                k -= 1
            t = bytes(b[k : j + 1]).lstrip(b"0") or b"0"
            val[i] = int(t) if len(t) <= 3 else 1000
        big = np.flatnonzero(val > 255)
        if big.size:
            bad[np.searchsorted(starts, tend[big], "right") - 1] = True
        good = (counts == n_pixels) & ~bad
        ok[c0 : c0 + m] = good
        if good.any():
            out.append(val[np.repeat(good, counts)].astype(np.uint8).reshape(-1, n_pixels))
    pixels = np.concatenate(out) if out else np.zeros((0, n_pixels), np.uint8)
    return pixels, ok


def pixel_problem(s: str, n_pixels: int = N_PIXELS) -> str:
    """One-line reason why pixel string `s` is not n_pixels integers 0..255."""
    if not s.strip():
        return "empty pixel field"
    tokens = [t for t in _SPLIT.split(s.strip(" \t\r")) if t]
    for pos, tok in enumerate(tokens, 1):
        if _TOKEN.fullmatch(tok):
            if int(tok) > 255:
                return f"pixel {pos} is {int(tok)}, outside 0..255"
            continue
        shown = _one_line(repr(tok), 40)
        try:
            x = float(tok)
        except ValueError:
            return f"pixel {pos} is not a number: {shown}"
        if math.isnan(x):
            return f"pixel {pos} is NaN"
        if x.is_integer() and not 0 <= x <= 255:
            return f"pixel {pos} is {shown}, outside 0..255"
        return f"pixel {pos} is not an integer: {shown}"
    if len(tokens) != n_pixels:
        return f"expected {n_pixels} pixel values, found {len(tokens)}"
    return "malformed pixel field"


def _label_codes(col):
    """(codes int64 with -1 where bad, problems dict index -> reason) for a label column."""
    s = col.str.strip()
    isint = s.str.fullmatch(r"[0-9]{1,3}").fillna(False).to_numpy(bool)
    codes = np.full(len(s), -1, np.int64)
    codes[isint] = s[isint].astype(np.int64).to_numpy()
    codes[codes >= len(CLASS_NAMES)] = -1
    return codes, s


def _label_problem(text: str) -> str:
    t = text.strip()
    if not t:
        return "missing label"
    shown = _one_line(repr(t), 40)
    if re.fullmatch(r"[+-]?[0-9]+", t):
        return f"label {shown} outside 0..{len(CLASS_NAMES) - 1}"
    return f"label {shown} is not an integer 0..{len(CLASS_NAMES) - 1}"


def _read_csv_frame(path: Path):
    import pandas as pd

    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if size == 0:
        raise DataError(f"{path}: empty file (expected a header like 'emotion,pixels,Usage' and data rows)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            df = pd.read_csv(
                path,
                dtype=object,  # plain Python str (na_filter=False): 2x faster than dtype=str here
                na_filter=False,
                skip_blank_lines=False,
                index_col=False,
                on_bad_lines="warn",
                encoding="utf-8-sig",
                engine="c",
            )
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text ({_utf8_error_where(path)}); save it as UTF-8") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: no header line (expected 'emotion,pixels,Usage' or 'label,feature')") from None
        except PermissionError:
            raise DataError(f"{path}: not readable (permission denied)") from None
        except (pd.errors.ParserError, ValueError, OSError, MemoryError, OverflowError) as e:
            raise DataError(f"{path}: not a readable CSV file ({_one_line(e, 120)})") from None
    dropped = {}
    for w in caught:
        for m in re.finditer(r"line (\d+): (expected \d+ fields, saw \d+)", str(w.message)):
            dropped[int(m.group(1))] = m.group(2)
    return df, dropped


def _utf8_error_where(path: Path) -> str:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f"byte 0x{data[e.start]:02x} at line {line}"
    return "undecodable bytes"


def _columns(df, path: Path):
    cols = {str(c).strip().lower(): c for c in df.columns}
    label = next((cols[c] for c in LABEL_COLUMNS if c in cols), None)
    pixels = next((cols[c] for c in PIXEL_COLUMNS if c in cols), None)
    usage = cols.get("usage")
    if label is None or pixels is None:
        found = _one_line(",".join(str(c) for c in df.columns), 80)
        hint = ""
        if len(df.columns) == 0:
            hint = " — the first line is empty"
        elif re.fullmatch(r"\s*[0-9]+\s*", str(df.columns[0])):
            hint = " — the file seems to have no header line"
        raise DataError(
            f"{path}: expected the header 'emotion,pixels,Usage' (Kaggle fer2013.csv) or "
            f"'label,feature' (course train.csv), found '{found}'{hint}"
        )
    return label, pixels, usage


def load_csv(path, *, seed=0, val_fraction=0.1, test_fraction=0.1, progress=None) -> Dataset:
    """Kaggle fer2013.csv (uses Usage) or a course train.csv (val/test held out by seed)."""
    path = Path(path)
    if progress:
        progress(0.0, f"reading {path.name}")
    df, dropped = _read_csv_frame(path)
    label_col, pixel_col, usage_col = _columns(df, path)
    report = LoadReport()

    n_df = len(df)
    # file line of each DataFrame row (header = line 1), accounting for lines pandas dropped
    all_lines = np.arange(2, 2 + n_df + len(dropped))
    lines = np.setdiff1d(all_lines, np.fromiter(dropped, np.int64, len(dropped))) if dropped else all_lines
    blank = np.ones(n_df, bool)
    for c in df.columns:
        blank &= (df[c] == "").to_numpy(bool)
    keep = np.flatnonzero(~blank)  # blank lines are ignored
    if len(keep) == 0 and not dropped:
        raise DataError(f"{path}: header only, no data rows")
    df = df.iloc[keep]
    lines = lines[keep]

    if progress:
        progress(0.3, "parsing pixels")
    labels, label_text = _label_codes(df[label_col])
    pixels, pix_ok = parse_pixel_strings(df[pixel_col].tolist())
    if usage_col is not None:
        utext = df[usage_col].str.strip()
        splits = utext.str.lower().map(USAGE_CODES).fillna(-1).to_numpy(np.int64)
    else:
        utext = None
        splits = np.zeros(len(df), np.int64)

    row_ok = (labels >= 0) & pix_ok & (splits >= 0)
    n_total = len(df) + len(dropped)
    n_bad = int((~row_ok).sum()) + len(dropped)

    def problems(limit=None):
        out = [(ln, why) for ln, why in dropped.items()]
        bad_rows = np.flatnonzero(~row_ok)
        for i in bad_rows if limit is None else bad_rows[:limit]:
            if labels[i] < 0:
                why = _label_problem(label_text.iloc[i])
            elif splits[i] < 0:
                why = (
                    f"unknown Usage value {_one_line(repr(utext.iloc[i]), 40)} "
                    "(expected Training, PublicTest or PrivateTest)"
                )
            else:
                why = pixel_problem(df[pixel_col].iloc[i])
            out.append((int(lines[i]), why))
        return sorted(out)

    if _too_many_bad(n_bad, n_total):
        line, why = problems(limit=1)[0]
        raise DataError(f"{path}: line {line}: {why}{_bad_summary(n_bad, n_total, 'row')}")
    if n_bad:
        for line, why in problems():
            report.skip(path, line, why)
        report.notes.append(f"skipped {n_bad} bad row(s) of {n_total} in {path.name}")

    images = pixels[row_ok[pix_ok]].reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    labels = labels[row_ok]
    splits = splits[row_ok].astype(np.uint8)
    if usage_col is None:
        _assign_holdouts(
            labels, splits, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
            report=report, hold_test=True,
        )
        name, prefix = "course-csv", f"course CSV at {path}"
    else:
        name, prefix = "fer2013", f"FER2013 CSV at {path}"
    if progress:
        progress(1.0, "done")
    return _finish(images, labels, splits, name=name, origin_prefix=prefix, report=report)


# --------------------------------------------------------------------------------------
# image folders


class FolderScan:
    """What scan_image_folders found: image files with their split and label, plus a listing
    (relative path, size, mtime_ns) of everything seen, for the cache key."""

    def __init__(self, root: Path):
        self.root = root
        self.files: list = []  # (path, split code, label)
        self.listing: list = []  # (relpath, size, mtime_ns)
        self.has_split = {TRAIN: False, VAL: False, TEST: False}
        self.visited: set = set()  # real paths of folders already read
        self.report = LoadReport()


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in _IGNORED_NAMES


def _scandir(path: Path):
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except PermissionError:
        raise DataError(f"{path}: not readable (permission denied)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot list folder ({e.strerror or e})") from None


def _class_index(name: str):
    n = name.strip().lower()
    return CLASS_NAMES.index(n) if n in CLASS_NAMES else None


def scan_image_folders(root) -> FolderScan:
    """Find train/<class>/ (val/, test/) image files under `root`; raises DataError on layout errors."""
    root = Path(root)
    scan = FolderScan(root)
    top = [e for e in _scandir(root) if not _is_ignored(e.name)]
    split_dirs = [(e, SPLIT_FOLDERS[e.name.strip().lower()]) for e in top
                  if e.name.strip().lower() in SPLIT_FOLDERS and e.is_dir()]
    if split_dirs:
        if not any(code == TRAIN for _, code in split_dirs):
            raise DataError(f"{root}: no train/ folder (found {', '.join(e.name + '/' for e, _ in split_dirs)})")
        for e, code in split_dirs:
            _scan_split(scan, Path(e.path), code)
    else:  # class folders directly under root: all of it is train
        scan.report.notes.append(f"{root} has class folders but no train/ folder: all images used as train")
        _scan_split(scan, root, TRAIN)
    if not scan.files:
        raise DataError(
            f"{root}: no image files in the class folders (looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    return scan


def _scan_split(scan: FolderScan, split_dir: Path, code: int):
    root = scan.root
    scan.has_split[code] = True
    class_dirs = []
    for e in _scandir(split_dir):
        if _is_ignored(e.name):
            continue
        if e.is_dir():
            if split_dir == root and e.name.strip().lower() in SPLIT_FOLDERS:
                continue
            label = _class_index(e.name)
            if label is None:
                raise DataError(
                    f"{Path(e.path)}: unknown class folder '{e.name}'; class folders must be named "
                    f"{', '.join(CLASS_NAMES)} (any case)"
                )
            class_dirs.append((Path(e.path), label))
        elif split_dir != root:
            scan.report.skip(e.path, None, "file not inside a class folder; ignored")
            scan.listing.append((os.path.relpath(e.path, root), -1, -1))  # few: relpath is fine
    if not class_dirs:
        raise DataError(f"{split_dir}: no class folders (expected folders named {', '.join(CLASS_NAMES)})")
    for cdir, label in class_dirs:
        _walk_class(scan, cdir, code, label)


def _walk_class(scan: FolderScan, cdir: Path, code: int, label: int):
    """All image files under cdir, recursively. Symlinked sub-folders are not followed; a folder
    reached twice (a class folder that links to another one) is read once."""
    prefix = len(os.path.join(str(scan.root), ""))
    visited = scan.visited
    stack = [(str(cdir), 0)]
    listing, files, report = scan.listing, scan.files, scan.report
    while stack:
        d, depth = stack.pop()
        real = os.path.realpath(d)
        if real in visited or depth > 16:
            report.notes.append(f"{d}: same folder as one already read (symlink?) or too deep; skipped")
            continue
        visited.add(real)
        for e in _scandir(d):
            name = e.name
            if _is_ignored(name):
                continue
            p = e.path
            try:
                if e.is_dir():
                    if e.is_symlink():  # could re-enter another class (a wrong label) or loop
                        report.skip(p, None, "symlinked folder inside a class folder; not followed")
                    else:
                        stack.append((p, depth + 1))
                    continue
                if not e.is_file():
                    report.skip(p, None, "not a regular file (broken link?)")
                    continue
                st = e.stat()
            except OSError as err:
                report.skip(p, None, f"cannot stat ({err.strerror or err})")
                continue
            listing.append((p[prefix:], st.st_size, st.st_mtime_ns))
            ext = os.path.splitext(name)[1].lower()
            if ext in IMAGE_EXTENSIONS:
                files.append((p, code, label))
            else:
                report.skip(p, None, f"not an image file ({ext or 'no extension'}); ignored")


def read_image(path):
    """(uint8 48x48 array or None, what was changed: set of 'gray'/'resized'/'frame', reason)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    changed = set()
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                return None, changed, f"image too large ({w}x{h} pixels; limit {MAX_IMAGE_PIXELS:,})"
            animated = getattr(im, "is_animated", False)
            if im.mode == "L" and im.size == (IMAGE_SIZE, IMAGE_SIZE) and not animated:
                return np.asarray(im), changed, None
            if animated:
                changed.add("frame")
                im.seek(0)
            if im.mode != "L":
                changed.add("gray")
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                changed.add("resized")
            if im.format == "JPEG":
                im.draft("L", (IMAGE_SIZE * 2, IMAGE_SIZE * 2))  # fast, memory-light decode of big JPEGs
            img = ImageOps.exif_transpose(im) if "resized" in changed else im
            if img.mode.startswith("I;16"):
                a = np.asarray(img, np.float64) * (255.0 / 65535.0)
                img = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
            elif img.mode in ("I", "F"):
                a = np.asarray(img, np.float64)
                hi = a.max() if a.size and a.max() > 255 else 255.0
                img = Image.fromarray(np.clip(a * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8))
            elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba).convert("L")
            else:
                img = img.convert("L")
            if img.size != (IMAGE_SIZE, IMAGE_SIZE):
                img = ImageOps.fit(img, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
            return np.asarray(img, np.uint8), changed, None
    except Image.DecompressionBombError as e:
        return None, changed, f"image too large ({_one_line(e, 80)})"
    except UnidentifiedImageError:
        try:
            empty = os.path.getsize(path) == 0
        except OSError:
            empty = False
        return None, changed, "empty file (0 bytes)" if empty else "not an image Pillow can read"
    except PermissionError:
        return None, changed, "not readable (permission denied)"
    except Exception as e:  # truncated data, broken chunks, decoder errors: the file is unusable
        return None, changed, f"unreadable image ({type(e).__name__}: {_one_line(e, 100)})"


def load_image_folders(path, *, scan=None, seed=0, val_fraction=0.1, test_fraction=0.1, progress=None) -> Dataset:
    """train/<class>/*, optional val/ and test/; classes matched by name, never folder order."""
    from PIL import Image

    root = Path(path)
    scan = scan or scan_image_folders(root)
    report = scan.report
    files = sorted(scan.files, key=lambda f: (f[1], f[2], f[0]))
    n = len(files)
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    ok = np.zeros(n, bool)
    changes = [None] * n
    reasons = [None] * n

    def work(lo, hi):
        stopping.check()  # a stopping process does not decode the rest of a 35,887-file folder
        for i in range(lo, hi):
            arr, changed, why = read_image(files[i][0])
            if arr is not None:
                images[i] = arr
                ok[i] = True
            changes[i], reasons[i] = changed, why
        return hi - lo

    step = 512
    chunks = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    workers = max(1, min(4, os.cpu_count() or 1, len(chunks)))
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(workers) as pool:
            for k in pool.map(lambda c: work(*c), chunks):
                done += k
                if progress:
                    progress(done / n, f"read {done} of {n} images")

    n_bad = int((~ok).sum())
    if _too_many_bad(n_bad, n):
        i = int(np.flatnonzero(~ok)[0])
        raise DataError(f"{files[i][0]}: {reasons[i]}{_bad_summary(n_bad, n, 'image file')}")
    for i in np.flatnonzero(~ok):
        report.skip(files[i][0], None, reasons[i])
    if n_bad:
        report.notes.append(f"skipped {n_bad} unreadable image file(s) of {n}")
    kinds = {"gray": 0, "resized": 0, "frame": 0}
    for i in np.flatnonzero(ok):
        for c in changes[i]:
            kinds[c] += 1
    report.converted = sum(1 for i in np.flatnonzero(ok) if changes[i])
    if report.converted:
        detail = [f"{kinds['gray']} colour/other mode to grayscale", f"{kinds['resized']} resized (centre crop)"]
        if kinds["frame"]:
            detail.append(f"{kinds['frame']} animated: first frame")
        report.notes.append(f"converted {report.converted} image(s) to 48x48 grayscale: {', '.join(detail)}")

    images = images[ok]
    labels = np.array([f[2] for f in files], np.int64)[ok]
    splits = np.array([f[1] for f in files], np.uint8)[ok]
    n_train = int((splits == TRAIN).sum())
    have_test = bool((splits == TEST).any())
    if scan.has_split[TEST] and not have_test:
        report.notes.append("test/ folder has no usable images: test held out of train instead")
    hold_val = not (splits == VAL).any()
    _assign_holdouts(
        labels, splits, seed=seed,
        val_fraction=val_fraction if hold_val else 0.0,
        test_fraction=test_fraction, report=report, hold_test=not have_test,
        base_for_val=n_train if have_test else None,
    )
    return _finish(images, labels, splits, name="fer2013", origin_prefix=f"FER2013 image folders at {root}",
                   report=report)
