"""Time estimates: a run measured on this machine when there is one, else the measured table."""
import pytest

from fer import estimates
from fer.runs import Run
from fer.train import TrainConfig

CNN = estimates.SPEEDS["cnn"]


def _run(run_id, wall, train=1000, val=300, epochs=3, width=0.25, host="here", **extra):
    return Run(run_id, None, {"arch": "cnn", "width": width, "dataset": {"train": train, "val": val}, "epochs_run": epochs,
                              "wall_time_s": wall, "machine": {"host": host}, "config": {"batch_size": 64}, **extra})


def test_without_runs_of_this_machine_the_table_speaks_scaled_by_width_and_batch():
    ips, basis = estimates.throughput("cnn", CNN.width, [])
    assert ips == CNN.ips and "2-core CPU" in basis
    assert estimates.throughput("cnn", 2 * CNN.width, [])[0] == pytest.approx(CNN.ips * 2 ** -CNN.exponent)
    assert estimates.throughput("cnn", CNN.width, [], batch_size=32)[0] == pytest.approx(CNN.ips * 0.5 ** 0.25)
    elsewhere = _run("r", 100.0, host="elsewhere")
    assert estimates.throughput("cnn", CNN.width, [elsewhere], host="here")[0] == CNN.ips


def test_a_long_enough_run_on_this_machine_sets_the_speed():
    # 3 epochs x (1000 train + 300 val / val_factor) image-units in 50 s less the fixed parts
    units = 3 * (1000 + 300 / CNN.val_factor)
    run = _run("r1", units / 200 + CNN.trace_s + 3 * CNN.epoch_s)
    short = _run("short", 10.0)  # mostly tracing: not a timing
    ips, basis = estimates.throughput("cnn", 0.25, [short, run], host="here")
    assert ips == pytest.approx(200.0) and "r1" in basis
    assert estimates.throughput("cnn", 0.25, [short], host="here")[1] == "measured on a 2-core CPU"
    distilled = _run("kd", 999.0, teacher={"run": "big"})  # its time includes the teacher's
    assert estimates.throughput("cnn", 0.25, [distilled, run], host="here")[0] == pytest.approx(200.0)
    config = TrainConfig(arch="cnn", width=0.25, epochs=3)
    seconds = estimates.estimate_seconds(config, 1000, [run], host="here", n_val=300, n_test=150)
    expected = (CNN.trace_s + CNN.post_s + 3 * (CNN.epoch_s + (1000 + 300 / CNN.val_factor) / 200)
                + (3 * 300 + 2 * 150) / (estimates.EVAL_SPEEDUP * 200))
    assert seconds == pytest.approx(expected)
    # distillation adds the teacher scoring every training and validation image, each epoch
    teacher = Run("big", None, {"arch": "cnn", "width": 0.25, "machine": {"host": "here"}})
    kd = TrainConfig(arch="cnn", width=0.25, epochs=3, teacher="big")
    with_teacher = estimates.estimate_seconds(kd, 1000, [run, teacher], host="here", n_val=300, n_test=150)
    assert with_teacher == pytest.approx(seconds + 3 * 1300 / (estimates.EVAL_SPEEDUP * 200))
    assert estimates.estimate_text(config, 1000, [run], host="here").startswith("about ")
    assert estimates.format_duration(42) == "42 s" and estimates.format_duration(125) == "2 min 05 s"


def test_a_run_on_the_same_data_speaks_before_a_run_on_other_data():
    fer2013 = _run("fer", 500.0)
    fer2013.meta["dataset"]["fingerprint"] = "fer2013"
    demo = _run("demo", 40.0, width=0.125)
    demo.meta["dataset"]["fingerprint"] = "demo"
    assert "demo" in estimates.throughput("cnn", 0.25, [fer2013, demo], host="here", fingerprint="demo")[1]
    assert "fer" in estimates.throughput("cnn", 0.25, [fer2013, demo], host="here", fingerprint="fer2013")[1]
    assert "fer" in estimates.throughput("cnn", 0.25, [fer2013, demo], host="here")[1]  # nearest width


def test_a_mobilenet_design_is_timed_by_its_own_runs_or_scaled_by_its_flops():
    """The 64x64 mini-Xception costs ~1.8x the 48x48 one per face: a run of either design times
    the other by their FLOPs, and a run of the same design speaks first."""
    from fer.models import build_model, count_flops

    def mobilenet(run_id, wall, **options):
        return Run(run_id, None, {"arch": "mobilenet", "width": 1.1, "options": {"dropout": 0.1, **options},
                                  "dataset": {"train": 10000, "val": 3000}, "epochs_run": 3, "wall_time_s": wall,
                                  "machine": {"host": "here"}, "config": {"batch_size": 64}})

    xception = dict(depth=4, blocks="xception")
    units = 3 * (10000 + 3000 / estimates.SPEEDS["mobilenet"].val_factor)  # long enough to be a timing
    fixed = estimates.SPEEDS["mobilenet"].trace_s + 3 * estimates.SPEEDS["mobilenet"].epoch_s
    plain = mobilenet("x48", units / 400 + fixed, **xception)
    ips, basis = estimates.throughput("mobilenet", 1.1, [plain], host="here", options=xception)
    assert ips == pytest.approx(400.0) and "x48" in basis
    fine = {**xception, "upsample": 64}
    ratio = (count_flops(build_model("mobilenet", 1.1, **xception))
             / count_flops(build_model("mobilenet", 1.1, **fine)))
    assert 0.5 < ratio < 0.6
    assert estimates.throughput("mobilenet", 1.1, [plain], host="here", options=fine)[0] == pytest.approx(400.0 * ratio)
    measured = mobilenet("x64", units / 150 + fixed, **fine)  # its own design's run speaks first
    assert estimates.throughput("mobilenet", 1.1, [plain, measured], host="here", options=fine)[0] == pytest.approx(150.0)
    slow = estimates.estimate_seconds(TrainConfig(arch="mobilenet", width=1.1, epochs=3, **fine), 1000, [plain], host="here")
    fast = estimates.estimate_seconds(TrainConfig(arch="mobilenet", width=1.1, epochs=3, **xception), 1000, [plain], host="here")
    assert slow > 1.5 * fast - 10
    assert estimates.design_of("cnn", {"depth": 5}) == () and estimates.design_of("mobilenet", {"depth": 3}) == ()
