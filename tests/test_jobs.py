"""The background training queue (fer.jobs): FIFO, never two at once, cancel, errors as messages.

Most tests use a fake trainer (no TensorFlow, milliseconds); one runs a real tiny training
to check the manager drives `fer.train.train` end to end (progress, saved run, cancel).
"""
import threading
import time

import numpy as np
import pytest

from fer import jobs
from fer.data.synthetic import generate
from fer.progress import BATCH, EPOCH, TrainingProgress
from fer.runs import Run, RunStore
from fer.train import TrainConfig, TrainingCancelled


class FakeData:
    name = "fake"
    fingerprint = "f" * 16

    def indices(self, split):
        return np.arange({"train": 100, "val": 20, "test": 20}[split])


class FakeTrainer:
    """Epochs of a few batches; blocks on `gate` (if given) so tests control the timing."""

    def __init__(self, batches=3, gate=None, fail=None, delay=0.0):
        self.batches, self.gate, self.fail, self.delay = batches, gate, fail, delay
        self.active = 0
        self.max_active = 0
        self.order = []
        self.lock = threading.Lock()

    def __call__(self, config, dataset, store, run_id=None, progress=None, cancel=None):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.order.append(config.description)
        try:
            history = {}
            for epoch in range(1, config.epochs + 1):
                for batch in range(1, self.batches + 1):
                    if self.gate is not None:
                        assert self.gate.wait(10), "test gate never opened"
                    time.sleep(self.delay)
                    if cancel is not None and cancel.is_set():
                        raise TrainingCancelled(f"training {run_id} cancelled")
                    if self.fail and epoch == 1 and batch == 2:
                        raise self.fail
                    progress(TrainingProgress(BATCH, epoch, config.epochs, batch, self.batches, 1.0,
                                              {"loss": 1.0, "accuracy": 0.5}))
                for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                    history.setdefault(k, []).append(0.5)
                progress(TrainingProgress(EPOCH, epoch, config.epochs, self.batches, self.batches,
                                          history=dict(history)))
            return Run(run_id, store.root / run_id, {"history": history, "test_accuracy": 0.5})
        finally:
            with self.lock:
                self.active -= 1


def cfg(name, **kw):
    return TrainConfig(arch="cnn", width=0.25, epochs=kw.pop("epochs", 2), description=name, **kw)


def test_second_request_is_queued_and_runs_after_the_first(tmp_path):
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate)
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=trainer)
    first = manager.submit(cfg("first"), FakeData(), owner="tab 1")
    second = manager.submit(cfg("second"), FakeData(), owner="tab 2")
    deadline = time.time() + 5
    while manager.get(first.id).status != jobs.RUNNING and time.time() < deadline:
        time.sleep(0.01)
    assert manager.get(first.id).status == jobs.RUNNING
    assert manager.get(second.id).status == jobs.QUEUED
    assert manager.position(second.id) == 1 and manager.position(first.id) == 0
    assert "queued behind 1" in second.message
    assert [j.id for j in manager.queued()] == [second.id]
    gate.set()
    assert manager.wait_idle(10)
    assert trainer.order == ["first", "second"] and trainer.max_active == 1  # never interleaved
    for job in (first, second):
        done = manager.get(job.id)
        assert done.status == jobs.DONE and done.fraction == 1.0
        assert done.history["val_accuracy"] == [0.5, 0.5]
        assert done.run_id and done.run_id in done.message


def test_progress_is_visible_while_training(tmp_path):
    gate = threading.Event()
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=FakeTrainer(batches=4, gate=gate, delay=0.02))
    job = manager.submit(cfg("watched", epochs=3), FakeData())
    gate.set()
    seen = set()
    while manager.get(job.id).active:
        j = manager.get(job.id)
        if j.status == jobs.RUNNING and j.epoch:
            seen.add((j.epoch, j.progress.batch))
            assert 0.0 <= j.fraction <= 1.0
        time.sleep(0.001)
    assert manager.get(job.id).status == jobs.DONE
    assert manager.get(job.id).epoch == 3
    assert seen, "no progress was visible while the job ran"


def test_cancel_a_running_job_and_a_queued_one(tmp_path):
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate)
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=trainer)
    running = manager.submit(cfg("running"), FakeData())
    queued = manager.submit(cfg("queued"), FakeData())
    third = manager.submit(cfg("third"), FakeData())
    while manager.get(running.id).status != jobs.RUNNING:
        time.sleep(0.01)
    assert manager.cancel(queued.id)
    assert manager.get(queued.id).status == jobs.CANCELLED
    assert manager.cancel(running.id)
    gate.set()
    assert manager.wait_idle(10)
    assert manager.get(running.id).status == jobs.CANCELLED
    assert "cancelled" in manager.get(running.id).message
    assert manager.get(third.id).status == jobs.DONE  # the queue moves on
    assert trainer.order == ["running", "third"]
    assert not manager.cancel(third.id)  # finished jobs cannot be cancelled


def test_errors_are_captured_as_one_line_messages_and_the_queue_survives(tmp_path):
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=FakeTrainer(fail=ValueError("the training split is empty\nmore")))
    bad = manager.submit(cfg("bad"), FakeData())
    assert manager.wait(bad.id, 10).status == jobs.FAILED
    assert manager.get(bad.id).error == "ValueError: the training split is empty"
    manager._train_fn = FakeTrainer()
    good = manager.submit(cfg("good"), FakeData())
    assert manager.wait(good.id, 10).status == jobs.DONE


def test_invalid_config_is_refused_at_submit(tmp_path):
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=FakeTrainer())
    with pytest.raises(ValueError, match="learning rate"):
        manager.submit(TrainConfig(learning_rate=5.0), FakeData())
    assert manager.jobs() == []


def test_waits_for_the_store_lock_held_by_another_process(tmp_path):
    store = RunStore(tmp_path)
    manager = jobs.JobManager(store, train_fn=FakeTrainer(), lock_poll_s=0.05)
    with RunStore(tmp_path).training_lock("python -m fer train (CLI)"):
        job = manager.submit(cfg("after the CLI"), FakeData())
        deadline = time.time() + 5
        while manager.get(job.id).status != jobs.WAITING and time.time() < deadline:
            time.sleep(0.01)
        waiting = manager.get(job.id)
        assert waiting.status == jobs.WAITING and "CLI" in waiting.message
    assert manager.wait(job.id, 10).status == jobs.DONE


def test_cancel_while_waiting_for_the_lock(tmp_path):
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=FakeTrainer(), lock_poll_s=0.05)
    with RunStore(tmp_path).training_lock("someone else"):
        job = manager.submit(cfg("never"), FakeData())
        while manager.get(job.id).status != jobs.WAITING:
            time.sleep(0.01)
        manager.cancel(job.id)
        assert manager.wait(job.id, 5).status == jobs.CANCELLED


def test_on_finish_callbacks_and_finished_count(tmp_path):
    manager = jobs.JobManager(RunStore(tmp_path), train_fn=FakeTrainer())
    seen = []
    manager.on_finish.append(lambda job: seen.append(job.status))
    manager.on_finish.append(lambda job: 1 / 0)  # a broken callback must not break the worker
    job = manager.submit(cfg("x"), FakeData())
    manager.wait(job.id, 10)
    assert seen == [jobs.DONE] and manager.finished_count == 1


def test_manager_for_is_one_per_store_folder(tmp_path):
    a = jobs.manager_for(RunStore(tmp_path))
    assert jobs.manager_for(RunStore(str(tmp_path))) is a
    assert jobs.manager_for(RunStore(tmp_path / "other")) is not a


@pytest.fixture(scope="module")
def tiny_faces():
    return generate(n_train=200, n_val=50, n_test=50, seed=5)


@pytest.mark.slow
def test_real_training_saves_a_run_and_a_real_cancel_stops_it(tiny_faces, tmp_path):
    store = RunStore(tmp_path)
    manager = jobs.JobManager(store)
    job = manager.submit(TrainConfig(arch="dnn", width=0.1, epochs=2, batch_size=64, patience=0), tiny_faces)
    done = manager.wait(job.id, 300)
    assert done.status == jobs.DONE, done.error
    assert [r.id for r in store.list()] == [done.run_id]
    assert len(done.history["loss"]) == 2 and done.images_per_s > 0

    long = manager.submit(TrainConfig(arch="dnn", width=0.1, epochs=50, batch_size=16, patience=0), tiny_faces)
    deadline = time.time() + 120
    while manager.get(long.id).epoch < 1 and time.time() < deadline:
        time.sleep(0.05)
    manager.cancel(long.id)
    stopped = manager.wait(long.id, 120)
    assert stopped.status == jobs.CANCELLED and stopped.epoch < 50
    assert [r.id for r in store.list()] == [done.run_id]  # nothing half-saved


def test_a_bad_model_option_is_refused_at_submit_with_a_message(tiny_faces, tmp_path):
    from fer.errors import ModelConfigError

    manager = jobs.JobManager(RunStore(tmp_path))
    with pytest.raises(ModelConfigError, match="cnn depth must be 2..5"):
        manager.submit(TrainConfig(arch="cnn", width=0.25, depth=9, epochs=1), tiny_faces)
    assert manager.jobs() == [] and not manager.busy  # nothing queued


def test_a_training_that_fails_in_the_worker_keeps_its_message(tiny_faces, tmp_path):
    def broken(config, *args, **kwargs):
        raise ModelConfigError_("the model cannot be built here")

    from fer.errors import ModelConfigError as ModelConfigError_

    manager = jobs.JobManager(RunStore(tmp_path), train_fn=broken)
    failed = manager.wait(manager.submit(TrainConfig(arch="cnn", width=0.25, epochs=1), tiny_faces).id, 60)
    assert failed.status == jobs.FAILED
    assert failed.error == "ModelConfigError: the model cannot be built here"


def test_a_training_progress_event_knows_its_fraction_and_its_line():
    mid = TrainingProgress(BATCH, 2, 4, 5, 10, 3.0, {"loss": 1.2})
    assert mid.fraction == pytest.approx((1 + 0.5) / 4) and mid.line() == "epoch 2/4, batch 5/10"
    end = TrainingProgress(EPOCH, 4, 4, 10, 10)
    assert end.fraction == 1.0 and end.last_epoch and end.line() == "finished epoch 4/4"
    assert TrainingProgress(BATCH, 0, 4).fraction == 0.0 and np.isnan(mid.metric("val_loss"))
