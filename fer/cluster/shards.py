"""A data set's faces explained in shards on a Ray cluster: `python -m fer explain ... --ray ADDRESS`.

    faces = ShardedFaces(connect(address), shard=512)
    write_report(run, dataset, out, faces=faces)    # the same files as a local run

Each shard of faces is one task (its maps, or its filter activations); the model file travels
once through the object store and each worker loads it once. Everything computed from all faces
together (class and cell averages, agreement, the top faces of each filter) stays on the driver,
so the files match a local run's.
"""
from __future__ import annotations

import numpy as np

from fer.cluster import RETRIES, lost_work
from fer.cluster import tasks
from fer.errors import ClusterError


class ShardedFaces:
    """`fer.explain.report.LocalFaces`' two methods, with the faces split into shards over the cluster."""

    def __init__(self, ray, shard: int = 512):
        if shard < 1:
            raise ClusterError(f"a shard holds at least one face, got {shard}")
        self.ray, self.shard = ray, int(shard)
        self._blobs: dict = {}  # model file -> its object reference
        self._maps = ray.remote(num_cpus=1, max_retries=RETRIES)(tasks.shard_maps)
        self._activations = ray.remote(num_cpus=1, max_retries=RETRIES)(tasks.shard_activations)

    def _blob(self, run):
        key = str(run.model_path)
        if key not in self._blobs:
            self._blobs[key] = self.ray.put(run.model_path.read_bytes())
        return self._blobs[key]

    def _gather(self, refs):
        try:
            return self.ray.get(refs)
        except Exception as exc:  # noqa: BLE001 - a task's failure, whatever its kind, is one line
            for ref in refs:
                self.ray.cancel(ref)
            raise ClusterError(f"a shard failed on the cluster: {lost_work(exc)}") from None

    def _starts(self, n):
        return range(0, n, self.shard)

    def face_maps(self, run, model, images, method, class_index):
        blob, idx = self._blob(run), np.asarray(class_index)
        refs = [self._maps.remote(blob, images[i:i + self.shard], method, idx[i:i + self.shard])
                for i in self._starts(len(images))]
        return np.concatenate(self._gather(refs)) if refs else np.zeros((0, 48, 48), np.float16)

    def filter_activations(self, run, model, layer, images):
        blob = self._blob(run)
        refs = [self._activations.remote(blob, layer, images[i:i + self.shard]) for i in self._starts(len(images))]
        parts = self._gather(refs)
        return np.concatenate([a for a, _ in parts]), np.concatenate([p for _, p in parts])
