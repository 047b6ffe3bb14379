"""Requests from many sessions for the same run and method, computed as one batch.

    maps = shared_maps(model, "Grad-CAM", faces, classes, {"layer": None, "upsample": "centres"})
    probs = shared_probs(model, faces)

give what `METHODS["Grad-CAM"](model, faces, classes, **options)` and `predict(model, faces)`
give. Why: on a server that a class shares, eight sessions asking for one face's maps each are
cheaper as one batch of eight, as model servers batch the requests that arrive together: most of
a one-face call is the library's fixed cost per call (`bench/shared_batching.py` measures the gain).

The rule: a request that finds no batch of its kind (same model, method and options) being
computed starts one at once, alone: a single session waits for nothing. Requests that arrive
while a batch is being computed wait for it to end and then go together as the next batch, led
by the first of them. Only methods whose map of a face does not depend on the other faces in
the call are batched (SmoothGrad draws its noise for the whole call, Score-CAM takes faces one
at a time: both run as they are).
"""
from __future__ import annotations

import collections
import threading
from typing import Callable, Hashable, Optional

import numpy as np

from fer import settings

BATCHED_METHODS = ("Saliency", "Grad-CAM", "Grad-CAM++")
MAX_FACES = 64  # per batch: beyond this the per-call cost is already spread thin


class _Request:
    def __init__(self, images: np.ndarray, extra: Optional[np.ndarray]):
        self.images, self.extra = images, extra
        self.result = self.error = None
        self.done = False
        self.lead = False
        self.wake = threading.Event()


class Batcher:
    """Runs `compute(key, images, extra) -> outputs` (rows aligned with the images) once for the
    requests of one key that gathered while the previous batch of that key was computed."""

    def __init__(self, compute: Callable, max_faces: int = MAX_FACES):
        self._compute = compute
        self._max_faces = max_faces
        self._lock = threading.Lock()
        self._pending: dict = {}  # key -> [requests not yet computed]; present while a batch runs
        # faces per computed batch, the latest ones only (a server runs for days): for the bench and the tests
        self.batch_sizes: "collections.deque[int]" = collections.deque(maxlen=1000)

    def __call__(self, key: Hashable, images: np.ndarray, extra: Optional[np.ndarray] = None):
        request = _Request(np.asarray(images), None if extra is None else np.asarray(extra))
        with self._lock:
            if key in self._pending:
                self._pending[key].append(request)
            else:
                self._pending[key] = [request]
                request.lead = True
        while not request.done:
            if request.lead:
                self._lead(key)
            else:
                request.wake.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _take(self, key) -> list:
        with self._lock:
            queue, batch, faces = self._pending[key], [], 0
            while queue and (not batch or faces + len(queue[0].images) <= self._max_faces):
                faces += len(queue[0].images)
                batch.append(queue.pop(0))
            return batch

    def _lead(self, key) -> None:
        batch = self._take(key)
        try:
            images = np.concatenate([r.images for r in batch])
            extra = None if batch[0].extra is None else np.concatenate([r.extra for r in batch])
            out = self._compute(key, images, extra)
            self.batch_sizes.append(len(images))
            start = 0
            for r in batch:
                r.result, start = out[start:start + len(r.images)], start + len(r.images)
        except BaseException as exc:  # noqa: BLE001 - every request of the batch gets it (Stopped included)
            for r in batch:
                r.error = exc
        with self._lock:
            queue = self._pending[key]
            if queue:
                queue[0].lead = True  # the next batch is led by the first request that waited
                queue[0].wake.set()
            else:
                del self._pending[key]
        for r in batch:
            r.done = True
            r.wake.set()


def _compute_maps(key, images, classes):
    from fer.explain.saliency import METHODS

    model, method, options = key
    return METHODS[method](model, images, classes, **dict(options))


def _compute_probs(key, images, _):
    from fer.explain.saliency import predict

    return predict(key[0], images)


_MAPS = Batcher(_compute_maps)
_PROBS = Batcher(_compute_probs)


def shared_maps(model, method: str, images, class_index, options: Optional[dict] = None) -> np.ndarray:
    """`method`'s maps (N,48,48) of `images` for `class_index` (one per face), computed together
    with other sessions' requests for the same model, method and options where that is exact."""
    from fer.explain.saliency import METHODS

    images = np.asarray(images)
    classes = np.broadcast_to(np.asarray(class_index, np.int64), (len(images),))
    picked = METHODS[method].pick(options or {})
    if method not in BATCHED_METHODS or not settings.shared_batching():
        return METHODS[method](model, images, classes, **picked)
    return _MAPS((model, method, tuple(sorted(picked.items()))), images, classes)


def shared_probs(model, images) -> np.ndarray:
    """`predict(model, images)`, computed together with other sessions' predictions for the model."""
    if not settings.shared_batching():
        from fer.explain.saliency import predict

        return predict(model, images)
    return _PROBS((model,), np.asarray(images))
