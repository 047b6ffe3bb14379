"""Shared batching without a browser: N sessions asking for one new face's maps at once, batched or not.

    python bench/shared_batching.py                          # 8 sessions, tiny runs, 20 faces each
    python bench/shared_batching.py --sessions 4 --runs fer2013-cnn-w1-mirror,fer2013-mobilenet-w1.1-xception-mirror

Each "session" is a thread that asks, face after face, for what the Saliency page computes for a
new face: every run's prediction and every method's maps of the true and the predicted class
(the page's two worker threads per session included). The same requests are timed with each
session's calls made directly (`fer.explain.METHODS`, `predict`) and through the shared batcher
(`fer.explain.shared`), in the same process, alternately, after a warm-up; the bench prints the
per-face latency (p50, p95), the faces per second over all sessions, and the batch sizes formed.
The Chromium bench (`bench/concurrent_sessions.py`) measures the same with the page and the browsers.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seed_runs(root: Path) -> list:
    """The concurrency bench's tiny runs (one epoch on 300 generated faces, a CNN and a DNN)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from concurrent_sessions import seed_store

    return seed_store(root)


def one_face(models: dict, face, true_class: int, batched: bool) -> None:
    """The Saliency page's work for a new face: predictions, then each (run, method) on 2 threads."""
    import numpy as np

    from concurrent.futures import ThreadPoolExecutor

    from fer.explain import METHOD_NAMES, METHODS, applicable_methods, map_targets, predict
    from fer.explain.shared import shared_maps, shared_probs

    def map_in_threads(fn, items):  # the page's two worker threads per session (ui.threads, without Streamlit)
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(fn, items))

    probs = {rid: (shared_probs if batched else predict)(m, face[None])[0] for rid, m in models.items()}
    jobs = []
    for rid, model in models.items():
        targets = [cls for _, cls in map_targets(int(np.argmax(probs[rid])), true_class)]
        ok = applicable_methods(model)
        jobs += [(model, method, targets) for method in METHOD_NAMES if ok[method] is None]
    faces = lambda n: np.repeat(face[None], n, axis=0)  # noqa: E731
    if batched:
        map_in_threads(lambda j: shared_maps(j[0], j[1], faces(len(j[2])), j[2]), jobs)
    else:
        map_in_threads(lambda j: METHODS[j[1]](j[0], faces(len(j[2])), j[2]), jobs)


def load(models: dict, sessions: int, per_session: int, batched: bool, offset: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(offset)
    latencies, lock = [], threading.Lock()

    def session(n):
        for k in range(per_session):
            face = rng.integers(0, 255, (48, 48)).astype(np.uint8)
            start = time.perf_counter()
            one_face(models, face, (n + k) % 7, batched)
            with lock:
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"p50": ordered[len(ordered) // 2], "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "faces_per_s": len(latencies) / wall}


def main(argv=None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--faces", type=int, default=20, help="new faces per session and round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (direct, batched), alternating")
    ap.add_argument("--runs", help="comma-separated run ids in --models (default: seed the tiny runs)")
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--record", action="store_true", help="keep the figures in bench/records/ for docs/results.md")
    args = ap.parse_args(argv)

    from fer.runs import RunStore

    if args.runs:
        store, run_ids = RunStore(args.models), args.runs.split(",")
    else:
        root = Path(tempfile.mkdtemp(prefix="fer-bench-batching-"))
        run_ids, store = seed_runs(root), RunStore(root)
    models = {rid: store.get(rid).load_model() for rid in run_ids}
    from fer.explain import shared

    load(models, 2, 2, False, 0)  # traces every function once
    load(models, 2, 2, True, 0)
    print(f"# {args.sessions} sessions x {args.faces} new faces, runs {', '.join(run_ids)}, {os.cpu_count()} cores")
    results = {False: [], True: []}
    for r in range(args.rounds):
        for batched in (False, True):
            shared._MAPS.batch_sizes.clear()
            out = load(models, args.sessions, args.faces, batched, 1000 * r + batched)
            results[batched].append(out)
            sizes = shared._MAPS.batch_sizes
            formed = f", map batches: mean {sum(sizes) / len(sizes):.1f} faces, max {max(sizes)}" if sizes else ""
            print(f"round {r + 1} {'batched' if batched else 'direct '}: per face p50 {out['p50']:.2f} s, "
                  f"p95 {out['p95']:.2f} s, {out['faces_per_s']:.2f} faces/s{formed}", flush=True)
    mean = {b: {k: sum(o[k] for o in v) / len(v) for k in v[0]} for b, v in results.items()}
    print(f"batched / direct: p50 x{mean[False]['p50'] / mean[True]['p50']:.2f} faster, "
          f"p95 x{mean[False]['p95'] / mean[True]['p95']:.2f}, throughput x{mean[True]['faces_per_s'] / mean[False]['faces_per_s']:.2f}")
    if args.record:
        from fer.documents.records import write_record

        rows = [{"requests": "batched" if b else "direct", "sessions": args.sessions,
                 "faces": args.sessions * args.faces * args.rounds, "p50 s": round(m["p50"], 2),
                 "p95 s": round(m["p95"], 2), "faces per s": round(m["faces_per_s"], 2)} for b, m in mean.items()]
        runs = "tiny runs" if not args.runs else ", ".join(run_ids)
        print("kept:", write_record(f"shared_batching_{args.sessions}", f"{args.sessions} sessions asking for new faces' "
                                    f"maps at once, without a browser ({runs})",
                                    "python bench/shared_batching.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                                    rows, note="Means over the rounds; direct and batched alternate in one process."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
