"""A 16-training width sweep timed in this machine's queue and on one and two local Ray nodes.

    python bench/ray_sweep.py                     # 2 widths x 8 seeds, 1 epoch on 600 faces each
    python bench/ray_sweep.py --record            # keep the figures for docs/results.md and docs/scale.md

Each row is one `python -m fer sweep` command line, timed from start to exit (the data load, the
cluster connection and every save included), into a fresh run store: first without `--ray` (the
app's one training queue, TensorFlow using every core), then with `--ray` on a Ray cluster started
here with one and then two nodes of one CPU each (`ray.cluster_utils.Cluster`). The speed-up is
against the one-node cluster, measured in the same run. On a machine with two cores the two nodes
share them; on a real cluster each node is a machine of its own.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed_sweep(store: Path, widths: str, seeds: str, epochs: int, images: int, address=None) -> float:
    """Seconds one sweep command takes; it must save every run."""
    cmd = [sys.executable, "-m", "fer", "--models", str(store), "sweep", "--arch", "cnn", "--widths", widths, "--seeds",
           seeds, "--epochs", str(epochs), "--max-train-images", str(images)] + (["--ray", address] if address else [])
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def on_cluster(nodes: int, *sweep_args) -> float:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    try:
        return timed_sweep(*sweep_args, address=cluster.address)
    finally:
        cluster.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="0.0625,0.125")
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--images", type=int, default=600, help="training faces per run (generated demo faces)")
    ap.add_argument("--record", action="store_true", help="keep the figures in bench/records/ for docs/results.md")
    args = ap.parse_args()
    n = len(args.widths.split(",")) * len(args.seeds.split(","))
    sweep = (args.widths, args.seeds, args.epochs, args.images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fer-ray-bench-") as tmp:
        for label, nodes in (("this machine's queue", 0), ("Ray, 1 node x 1 CPU", 1), ("Ray, 2 nodes x 1 CPU", 2)):
            store = Path(tmp) / f"runs-{nodes}"
            seconds = timed_sweep(store, *sweep) if nodes == 0 else on_cluster(nodes, store, *sweep)
            saved = len([p for p in store.iterdir() if not p.name.startswith(".")])
            rows.append({"where": label, "trainings": n, "runs saved": saved, "seconds": round(seconds, 1),
                         "s per training": round(seconds / n, 2)})
            print(f"{label:24s} {n} trainings, {saved} saved: {seconds:7.1f} s ({seconds / n:.2f} s each)", flush=True)
    one = rows[1]["seconds"]
    for row in rows:
        row["speed-up vs 1 node"] = round(one / row["seconds"], 2)
    print(f"two nodes against one: x{rows[2]['speed-up vs 1 node']:.2f}; the queue against one node: "
          f"x{rows[0]['speed-up vs 1 node']:.2f}")
    if args.record:
        from fer.documents.records import write_record

        command = "python bench/ray_sweep.py " + " ".join(sys.argv[1:])
        print("kept:", write_record("ray_sweep_16", f"A {n}-training width sweep: the local queue, one and two Ray nodes",
                                    command.strip(), rows, note=f"cnn widths {args.widths}, seeds {args.seeds}, "
                                    f"{args.epochs} epoch(s) on {args.images} generated faces each; two cores shared "
                                    "by every node"))


if __name__ == "__main__":
    main()
