"""What runs on a Ray worker: one training into a store of its own, one shard of faces explained,
and the board where trainings post their progress. The driver wraps these with `ray.remote`.

Each function returns plain values (a run's files as bytes, arrays): the worker writes nothing
the driver owns.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time

_MODELS: dict = {}  # model file digest -> loaded model, kept for the worker's next shard


def limit_threads() -> None:
    """TensorFlow's thread pools sized to the CPUs Ray gave this task, so tasks on one machine do
    not fight over its cores (set once per worker process, before TensorFlow starts)."""
    import ray
    import tensorflow as tf

    cpus = max(1, round(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)
    except RuntimeError:  # this worker already ran TensorFlow: its pools are set
        pass


def train_run(config: dict, dataset, run_id: str, board, index: int, command: str = "") -> dict:
    """Train `config` on `dataset` in a temporary store; the saved run's files by name."""
    import ray

    from fer.progress import EPOCH
    from fer.runs import RunStore, run_files
    from fer.train import TrainConfig, train

    limit_threads()
    board.started.remote(index, os.getpid(), ray.get_runtime_context().get_node_id())
    last = [0.0]

    def progress(event):
        if event.phase == EPOCH or time.monotonic() - last[0] > 1.0:  # a message a second at most
            last[0] = time.monotonic()
            board.post.remote(index, event)

    with tempfile.TemporaryDirectory(prefix="fer-worker-") as tmp:
        run = train(TrainConfig(**config), dataset, RunStore(tmp), run_id=run_id, progress=progress, command=command)
        return run_files(run)


class Board:
    """A sweep's progress, posted by its trainings and read by the driver (a Ray actor)."""

    def __init__(self):
        self.events, self.workers = {}, {}

    def started(self, index: int, pid: int, node: str) -> None:
        self.workers.setdefault(index, []).append((pid, node))

    def post(self, index: int, event) -> None:
        self.events[index] = event

    def read(self):
        return self.events, self.workers


def _model(blob: bytes):
    import keras

    digest = hashlib.sha256(blob).hexdigest()
    if digest not in _MODELS:
        with tempfile.TemporaryDirectory(prefix="fer-model-") as tmp:
            path = os.path.join(tmp, "model.keras")
            with open(path, "wb") as fh:
                fh.write(blob)
            _MODELS.clear()  # one model per worker at a time
            _MODELS[digest] = keras.models.load_model(path, compile=False, safe_mode=True)
    return _MODELS[digest]


def shard_maps(blob: bytes, images, method: str, class_index, options=None):
    """`fer.explain.aggregate.face_maps` of one shard of faces."""
    from fer.explain import aggregate

    limit_threads()
    return aggregate.face_maps(_model(blob), images, method, class_index=class_index, options=options)


def shard_activations(blob: bytes, layer: str, images):
    """`fer.explain.aggregate.filter_activations` of one shard of faces."""
    from fer.explain import aggregate

    limit_threads()
    return aggregate.filter_activations(_model(blob), layer, images)
