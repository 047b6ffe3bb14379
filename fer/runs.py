"""The run store: one folder per trained model, `models/<run-id>/{model.keras, run.json}`.

Saves are atomic (built in a hidden temp folder, then renamed into place), so a crash
never leaves a half-written run that looks good. A folder that is broken anyway (edited by
hand, copied half-way) is listed as broken with the reason and skipped, never fatal.
Work in progress (checkpoints, status of a running or interrupted training) lives under
`models/.work/`, which is git-ignored and never listed as a run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from fer import settings
from fer.errors import RunError, TrainingBusy  # noqa: F401 - raised here, importable from here

MODEL_FILE = "model.keras"
# An imported TFLite or ONNX model keeps its own file (run.json's `model_file` names it).
MODEL_FILES = (MODEL_FILE, "model.tflite", "model.onnx")
META_FILE = "run.json"
WORK_DIR = ".work"
LOCK_FILE = ".train.lock"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATUS_FILE = "status.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
REQUIRED_KEYS = ("id", "arch", "params", "test_accuracy")
GUEST_TITLES = {"keras": "Keras", "keras-h5": "Keras .h5", "savedmodel": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}


def default_root() -> Path:
    """`FER_MODELS_DIR` or the repo's `models/` folder."""
    return settings.models_dir()


def validate_run_id(run_id: str) -> str:
    """Refuse ids that could escape the store (`..`, slashes, hidden names)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' only")
    return run_id


def new_run_id(arch: str, width: float) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{arch}-w{width:g}-{stamp}-{secrets.token_hex(2)}"


def model_sha256(run_path: Path) -> str:
    """SHA-256 of the run's model file; hashed once per file version (path, mtime, size), since
    the pages ask on every rerun."""
    path = _model_file(Path(run_path))
    st = path.stat()
    return _sha256(str(path), st.st_mtime_ns, st.st_size)


def _model_file(run_path: Path) -> Path:
    """The run's model file: model.keras, or an imported model's own file."""
    return next((run_path / name for name in MODEL_FILES if (run_path / name).is_file()), run_path / MODEL_FILE)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + fsync + rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + fsync + rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_clean_model(model, path: Path) -> None:
    """Save weights and architecture without optimizer state (smaller, loads anywhere)."""
    import keras

    clean = keras.Model.from_config(model.get_config())  # clone_model/to_json keep the compile state
    clean.set_weights(model.get_weights())
    clean.save(str(path))


@dataclasses.dataclass
class Run:
    id: str
    path: Path
    meta: dict

    @property
    def model_path(self) -> Path:
        return self.path / self.meta.get("model_file", MODEL_FILE)

    @property
    def is_keras(self) -> bool:
        """A Keras model (trained here, or an imported Keras file): layers and gradients. An
        imported TFLite or ONNX model gives predictions only."""
        return self.model_path.name == MODEL_FILE

    @property
    def label(self) -> str:
        acc = self.meta.get("test_accuracy")
        acc_text = f"{100 * acc:.1f}%" if isinstance(acc, (int, float)) else "n/a"
        from fer.architectures import model_title

        guest = self.meta.get("guest")
        kind = (f"imported {GUEST_TITLES.get(guest.get('format'), guest.get('format'))}" if isinstance(guest, dict) else
                f"{model_title(self.meta.get('arch'), self.meta.get('options'))} w{self.meta.get('width', '?')}")
        kind += ", mirror-averaged" if self.meta.get("mirror") else ""
        params = self.meta.get("params")
        return f"{self.id} — {kind}, {'?' if params is None else f'{params:,}'} params, test {acc_text}"

    def load_model(self):
        """Load in Keras safe mode, uncompiled; an imported TFLite or ONNX model behind its adapter
        (`fer.guests.ForwardOnly`)."""
        import keras

        try:
            if self.model_path.name != MODEL_FILE:
                from fer.guests import load_forward_only

                return load_forward_only(self.model_path, self.meta)
            return keras.models.load_model(str(self.model_path), compile=False, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - any loader failure is a broken run for the user
            raise RunError(f"run {self.id}: cannot load {self.model_path.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def run_files(run: Run) -> dict:
    """A run's files by name, as bytes: what `RunStore.save_files` takes (the run moves between
    machines without a shared folder)."""
    return {p.name: p.read_bytes() for p in sorted(run.path.iterdir()) if p.is_file() and not p.name.startswith(".")}


@dataclasses.dataclass
class BrokenRun:
    id: str
    path: Path
    reason: str


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()

    # -- reading -------------------------------------------------------------
    def scan(self):
        """(runs, broken folders with reasons): featured runs first, then newest first.

        A run.json with `"featured": true` (the main models shipped in models/) comes first, so
        every page's run picker opens on a good model rather than on whichever run was trained
        last; runs a user trains come right after them, newest first.
        """
        runs, broken = [], []
        if not self.root.is_dir():
            return runs, broken
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
                continue
            try:
                runs.append(self._read(entry))
            except RunError as exc:
                broken.append(BrokenRun(entry.name, entry, str(exc)))
        runs.sort(key=_listing_order, reverse=True)
        return runs, broken

    def list(self):
        return self.scan()[0]

    def _read(self, folder: Path) -> Run:
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise RunError(f"{folder.name}: missing {META_FILE}")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunError(f"{folder.name}: {META_FILE} is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise RunError(f"{folder.name}: {META_FILE} is not a JSON object")
        model_file = meta.get("model_file", MODEL_FILE)
        if model_file not in MODEL_FILES:
            raise RunError(f"{folder.name}: {META_FILE} names model file {model_file!r}, not one of {', '.join(MODEL_FILES)}")
        if not (folder / model_file).is_file():
            raise RunError(f"{folder.name}: missing {model_file}")
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise RunError(f"{folder.name}: {META_FILE} lacks {', '.join(missing)}")
        return Run(folder.name, folder, meta)

    def get(self, run_id: str) -> Run:
        validate_run_id(run_id)
        folder = self.root / run_id
        if not folder.is_dir():
            known = ", ".join(r.id for r in self.list()[:5]) or "none yet"
            raise RunError(f"no run {run_id!r} in {self.root} (runs: {known})")
        return self._read(folder)

    # -- writing -------------------------------------------------------------
    def save(self, run_id: str, model, meta: dict) -> Run:
        """Write model.keras + run.json into a temp folder, then rename it into place."""
        meta = {**meta, "id": run_id}

        def write(tmp: Path):
            save_clean_model(model, tmp / MODEL_FILE)
            atomic_write_text(tmp / META_FILE, json.dumps(meta, indent=1, default=_json_default))

        return Run(run_id, self._place(run_id, write), meta)

    def save_files(self, run_id: str, files: dict) -> Run:
        """Save a run made elsewhere (`run_files` of a run in another store, say on a cluster's
        worker) under `run_id`, atomically; refused when the files are not a run or the id is taken."""
        if META_FILE not in files or not set(MODEL_FILES) & set(files) or any(Path(n).name != n or n.startswith(".") for n in files):
            raise RunError(f"cannot save run {run_id}: the files are not a run ({', '.join(sorted(files)) or 'none'})")
        try:
            named = json.loads(files[META_FILE]).get("id")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            raise RunError(f"cannot save run {run_id}: its {META_FILE} is not a JSON object") from None
        if named != run_id:
            raise RunError(f"cannot save run {run_id}: the files are run {named!r}")

        def write(tmp: Path):
            for name, data in files.items():
                (tmp / name).write_bytes(data)

        return self._read(self._place(run_id, write))

    def save_artefact(self, run_id: str, filename: str, data: bytes, meta: dict) -> Run:
        """Save a model file that is not Keras (an imported `model.tflite` or `model.onnx`) and
        its run.json, atomically."""
        if filename not in MODEL_FILES[1:]:
            raise RunError(f"cannot save run {run_id}: {filename!r} is not one of {', '.join(MODEL_FILES[1:])}")
        meta = {**meta, "id": run_id, "model_file": filename}

        def write(tmp: Path):
            (tmp / filename).write_bytes(data)
            atomic_write_text(tmp / META_FILE, json.dumps(meta, indent=1, default=_json_default))

        return Run(run_id, self._place(run_id, write), meta)

    def _place(self, run_id: str, write) -> Path:
        """`write(folder)` into a temp folder beside the runs, then rename it to `run_id`."""
        validate_run_id(run_id)
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / run_id
        if final.exists():
            raise RunError(f"run {run_id!r} already exists")
        self._remove_stale_temp()
        tmp = self.root / f".tmp-{run_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            write(tmp)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RunError(f"could not save run {run_id}: {exc.strerror or exc}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def _remove_stale_temp(self) -> None:
        """Delete `.tmp-*` / `.trash-*` folders left by a process killed while saving or deleting."""
        for entry in self.root.glob(".t*-*-*"):
            owner = entry.name.rsplit("-", 1)[-1]
            if entry.name.startswith((".tmp-", ".trash-")) and owner.isdigit() and not pid_alive(int(owner)):
                shutil.rmtree(entry, ignore_errors=True)

    # -- work in progress: only the store knows the layout of .work/<run-id>/ -------------
    def work_dir(self, run_id: str) -> Path:
        path = self.root / WORK_DIR / validate_run_id(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def backup_dir(self, run_id: str) -> Path:
        """Where Keras' BackupAndRestore keeps a training's last epoch."""
        return self.work_dir(run_id) / "backup"

    def best_weights(self, run_id: str) -> Path:
        """The best epoch's weights so far (may not exist yet)."""
        return self.root / WORK_DIR / validate_run_id(run_id) / BEST_WEIGHTS_FILE

    def work_status(self, run_id: str):
        """The status dict of an unfinished training, or None when there is none."""
        path = self.root / WORK_DIR / validate_run_id(run_id) / STATUS_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"state": "unreadable"}

    def write_work_status(self, run_id: str, status: dict) -> None:
        atomic_write_text(self.work_dir(run_id) / STATUS_FILE, json.dumps(status, indent=1, default=_json_default))

    def work_status_mtime(self, run_id: str) -> float:
        return os.path.getmtime(self.root / WORK_DIR / validate_run_id(run_id) / STATUS_FILE)

    def discard_work(self, run_id: str) -> None:
        shutil.rmtree(self.root / WORK_DIR / validate_run_id(run_id), ignore_errors=True)

    def training_elsewhere(self, unfinished=None):
        """Unfinished trainings whose process is still alive (e.g. a CLI run): their run ids.
        Pass `interrupted()`'s result when already read, to scan the work folders once."""
        return [run_id for run_id, status in (self.interrupted() if unfinished is None else unfinished)
                if status.get("state") == "training" and pid_alive(status.get("pid"))]

    def interrupted(self):
        """Work folders whose training never finished: (run_id, status dict), live ones included."""
        out = []
        base = self.root / WORK_DIR
        if not base.is_dir():
            return out
        for entry in sorted(base.iterdir()):
            if (self.root / entry.name).exists() or not _RUN_ID.match(entry.name):
                continue
            status = self.work_status(entry.name)
            if status is not None:
                out.append((entry.name, status))
        return out

    def busy(self) -> str | None:
        """Who holds the training lock right now (None when free)."""
        path = self.root / LOCK_FILE
        if not path.is_file():
            return None
        with open(path, "a+", encoding="utf-8") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                return fh.read().strip() or "another training"
            fcntl.flock(fh, fcntl.LOCK_UN)
        return None

    @contextlib.contextmanager
    def training_lock(self, owner: str):
        """Hold the store's exclusive training lock or raise TrainingBusy at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        fh = open(path, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another training"
                raise TrainingBusy(f"a training is already running ({holder}); wait for it or cancel it") from None
            fh.seek(0)
            fh.truncate()
            fh.write(owner)
            fh.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


def _listing_order(run):
    """Featured runs first, in the registry's order of architectures (the main CNN, then its
    DNN and MobileNet), then every run newest first."""
    from fer.architectures import ARCH_NAMES

    featured = run.meta.get("featured") is True
    arch = run.meta.get("arch")
    rank = -ARCH_NAMES.index(arch) if featured and arch in ARCH_NAMES else -len(ARCH_NAMES)
    return featured, rank, str(run.meta.get("created", ""))


def on_real_faces(run) -> bool:
    """Whether a run was trained on real faces (not the generated cartoons): the runs a photo may
    be shown to, whatever data the app is on. An imported model was trained elsewhere, by its
    author; its `dataset` is the one that scored it."""
    from fer.data.dataset import GENERATED_NAME

    return "guest" in run.meta or (run.meta.get("dataset") or {}).get("name") != GENERATED_NAME


def pid_alive(pid) -> bool:
    """Whether a process with this id exists on this machine (False for a missing or bad id)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def chain_legs(meta: dict) -> list:
    """A run's warm-start chain, oldest leg first: the nested `init_from` records, then the run."""
    legs, node = [meta], meta.get("init_from")
    while isinstance(node, dict):
        legs.append(node)
        node = node.get("init_from")
    return legs[::-1]


def chain_history(meta: dict, whole_chain: bool = True):
    """(history, leg_starts): per-epoch history over a run's whole chain of warm-started legs.

    A warm-started run's own `history` holds its last leg only. The earlier legs' histories
    come from the nested `init_from` records, oldest first. A leg recorded without its history
    (runs made before lineage kept it) contributes `None` for each of its `epochs_run` epochs, so
    later epochs keep their true numbers and charts show a gap. `leg_starts` are the 1-based
    epochs where each leg began ([1] for a single-leg run). `whole_chain=False`: the last leg only.
    """
    legs = chain_legs(meta) if whole_chain else [meta]
    keys = sorted({k for leg in legs for k in (leg.get("history") or {})})
    history, starts, epoch = {k: [] for k in keys}, [], 1
    for leg in legs:
        own = leg.get("history") or {}
        length = max([len(v or []) for v in own.values()] or [int(leg.get("epochs_run") or 0)])
        if not length:
            continue
        starts.append(epoch)
        for k in keys:
            values = list(own.get(k) or [])
            history[k] += values + [None] * (length - len(values))
        epoch += length
    return history, starts


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
