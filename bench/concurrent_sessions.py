"""Concurrent sessions: N headless-Chromium sessions on one server, Saliency latency, one training queue.

    python bench/concurrent_sessions.py                      # 4 sessions for 90 s
    python bench/concurrent_sessions.py --sessions 6 --seconds 120
    python bench/concurrent_sessions.py --archs dnn          # seed only a DNN (gradient methods only: lighter)
    python bench/concurrent_sessions.py --sessions 8 --seconds 120 --batching both --record   # shared batching off, on
    python bench/concurrent_sessions.py --sessions 8 --seconds 420 --models models \
        --data ../shared/data/fer2013 --faces 3588 --record                               # the shipped runs on FER2013

What it does (needs /usr/bin/chromium and the `playwright` package; no Playwright browser download):
  1. seeds a temporary run store (FER_MODELS_DIR) with tiny runs trained on the generated faces
     (`fer.train`, one epoch on 300 images per architecture in --archs);
  2. starts `streamlit run streamlit_app.py` on a free 127.0.0.1 port against it, as
     tests/test_e2e_browser.py does;
  3. opens N browser contexts (one Chromium, one async Playwright driver), each on the Saliency
     page, and for --seconds each session keeps typing a new face index (a face no other session
     asked for, so the maps are really computed, not read from Streamlit's cache) and times the
     rerun: the Enter key -> the server's `script_finished` websocket message (tests/browser_harness
     RunWatcher; all of the page's elements have been sent). All sessions share the cached models;
  4. a quarter of the way in, sessions 1 and 2 open the Train page, choose the quickest settings
     the form offers (dnn, 1 epoch, 200 training images) and press **Train** at the same moment:
     the process-wide queue (fer.jobs) must run one and queue the other. A watcher polls the run
     store's `.work/` folder (a training's work folder exists exactly while it holds the store's
     training lock) to record how many trainings were active at once;
  5. at the end it waits for both trainings, checks that every run in the store loads, and prints:
     sessions, duration, Saliency renders, p50 / p95 / max latency, errors seen on any page
     (`stException` tracebacks, `st.error` boxes, browser page errors), what the two training
     requests showed and the server's resident memory every 30 s.
`--batching both` runs the load twice on fresh servers and stores, shared batching off
(`FER_SHARED_BATCHING=0`) and on, and prints the ratios; `--models` drives a copy of an existing
store (with `--data`, e.g. the shipped runs on FER2013); `--record` keeps the figures in
`bench/records/concurrent_sessions_<sessions>_<store>_<data>.json` for `docs/results.md`.

`run_load(n_sessions, seconds, ...) -> dict` is the core (tests/test_concurrent_sessions.py calls
it); `seed_store` and `browser_harness.start_streamlit` are usable on their own. The machine's load matters a lot (2 shared
cores here): the load average is printed with the results.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from browser_harness import CHROMIUM_ARGS, RunWatcher, chromium_path, start_streamlit  # noqa: E402

RUN_TIMEOUT_S = 240.0  # one script run on a loaded 2-core machine, cold TensorFlow import included
ERRORS_JS = """() => {
    const out = [];
    for (const el of document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]'))
        out.push(el.innerText.slice(0, 300));
    return out;
}"""
QUICK_FORM = {"arch": "dnn", "epochs": 1, "cap": 200}  # the quickest the Train form offers, in practice


# ----------------------------------------------------------------------------------------------
# run store and server


def seed_store(root, archs=("cnn", "dnn"), images: int = 300) -> list:
    """Train one tiny run per architecture on the generated faces into `root`; returns the run ids."""
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    ds = load_dataset("synthetic")
    store = RunStore(root)
    return [train(TrainConfig(arch=arch, width=0.25, epochs=1, max_train_images=images, patience=0,
                              description=f"concurrency bench seed ({arch})"), ds, store).id for arch in archs]


def active_trainings(root) -> list:
    """Trainings holding the store's lock now: `.work/<run>` folders whose run is not saved yet."""
    from fer.runs import META_FILE, WORK_DIR

    base = Path(root) / WORK_DIR
    try:
        return sorted(d.name for d in base.iterdir() if d.is_dir() and not (Path(root) / d.name / META_FILE).exists())
    except OSError:
        return []


def check_store(root) -> dict:
    """Every run in the store: does it list and load? {"runs": [...], "broken": [...], "loadable": {id: bool|msg}}."""
    from fer.runs import RunStore

    runs, broken = RunStore(root).scan()
    loadable = {}
    for run in runs:
        try:
            model = run.load_model()
            loadable[run.id] = model.output_shape[-1] == 7 or f"output shape {model.output_shape}"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            loadable[run.id] = f"{type(exc).__name__}: {exc}"
    return {"runs": [r.id for r in runs], "broken": [f"{b.id}: {b.reason}" for b in broken], "loadable": loadable,
            "meta": {r.id: r.meta for r in runs}}


def _interval(meta) -> tuple:
    """(start, end) of a run's training in epoch seconds, from run.json's `created` and `wall_time_s`."""
    end = time.mktime(time.strptime(meta["created"], "%Y-%m-%dT%H:%M:%S"))
    return end - float(meta.get("wall_time_s") or 0.0), end


# ----------------------------------------------------------------------------------------------
# one browser session


class Session:
    def __init__(self, n: int, page, errors: list):
        self.n = n
        self.page = page
        self.runs = RunWatcher(page)
        self.errors = errors
        self.latencies = []  # (seconds, face index) of each timed Saliency rerun
        self.first_open_s = None
        self.training = {}
        page.on("pageerror", lambda exc: errors.append(f"session {n}: browser page error: {exc}"))

    async def wait_run(self, seen: int, timeout_s: float = RUN_TIMEOUT_S) -> float:
        """perf_counter() time of the first full script run that finished after `seen` runs."""
        deadline = time.perf_counter() + timeout_s
        while len(self.runs.finished) <= seen:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"session {self.n}: no script run finished within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
        return self.runs.finished[seen]

    async def check_errors(self, where: str):
        for text in await self.page.evaluate(ERRORS_JS):
            self.errors.append(f"session {self.n} on {where}: {text}")

    async def nav(self, title: str):
        seen = len(self.runs.finished)
        await self.page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
        await self.wait_run(seen)
        await self.check_errors(title)

    async def open_saliency(self, url: str):
        """Open /saliency (a deep link, as a bookmark would); one reload if it did not render."""
        t0 = time.perf_counter()
        for attempt in (1, 2):
            seen = len(self.runs.finished)
            await self.page.goto(f"{url}/saliency", wait_until="domcontentloaded")
            await self.wait_run(seen)
            try:
                await self.index_input().wait_for(timeout=20_000)
            except Exception:  # noqa: BLE001 - the page did not render: report it, reload once
                await self.check_errors("Saliency (first open)")
                main = await self.page.locator('[data-testid="stMain"], body').first.inner_text()
                self.errors.append(f"session {self.n}: Saliency did not render on open {attempt}: {main[:200]!r}")
                continue
            self.first_open_s = time.perf_counter() - t0
            await self.check_errors("Saliency")
            return
        raise RuntimeError(f"session {self.n}: the Saliency page did not render, even after a reload")

    def index_input(self):
        return self.page.get_by_label(re.compile(r"^Index in ")).first

    async def saliency_rerun(self, index: int):
        box = self.index_input()
        await box.fill(str(index))
        seen = len(self.runs.finished)
        t0 = time.perf_counter()
        await box.press("Enter")
        done = await self.wait_run(seen)
        self.latencies.append((done - t0, index))
        await self.check_errors("Saliency")

    async def fill_number(self, label: str, value):
        box = self.page.get_by_label(label, exact=True).first
        await box.fill(str(value))
        seen = len(self.runs.finished)
        await box.press("Enter")
        await self.wait_run(seen)

    async def prepare_training(self):
        """Train page, quickest settings: architecture dnn, 1 epoch, 200 training images."""
        await self.nav("Train")
        page = self.page
        select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Architecture").first
        seen = len(self.runs.finished)
        await select.click()
        await page.get_by_role("option", name=QUICK_FORM["arch"], exact=True).click()
        await self.wait_run(seen)
        await self.fill_number("Epochs", QUICK_FORM["epochs"])
        await self.fill_number("Max training images (0 = all)", QUICK_FORM["cap"])
        self.training["estimate"] = await page.locator('[data-testid="stCaptionContainer"]').filter(
            has_text="On this machine this takes").first.inner_text()

    async def press_train(self):
        page = self.page
        seen = len(self.runs.finished)
        self.training["clicked"] = time.time()
        await page.get_by_role("button", name="Train", exact=True).click()
        await self.wait_run(seen)
        toasts = []
        deadline = time.perf_counter() + 3.0
        while time.perf_counter() < deadline and not toasts:  # the toast (it fades after a few seconds)
            toasts = [" ".join(t.split()) for t in await page.locator('[data-testid="stToast"]').all_inner_texts()]
            toasts = [t for t in toasts if t]
            await asyncio.sleep(0.1)
        self.training["toast"] = " | ".join(toasts)
        await page.wait_for_timeout(1500)  # let the live progress panel (a fragment) draw once more
        self.training["panel"] = _progress_text(await page.locator('[data-testid="stMain"]').inner_text())
        await self.check_errors("Train")

    async def read_outcome(self):
        await self.nav("Train")
        await self.page.wait_for_timeout(1000)
        self.training["final"] = _progress_text(await self.page.locator('[data-testid="stMain"]').inner_text())


def _progress_text(main: str) -> str:
    """The Train page's "Progress" panel as one line."""
    part = main[main.find("Progress"):] if "Progress" in main else main
    part = part.split("All trainings this server")[0]
    return " ".join(line.strip() for line in part.splitlines() if line.strip())[:600]


# ----------------------------------------------------------------------------------------------
# the load


def server_rss_mb(pid) -> float:
    """The server process's resident memory (VmRSS) in MB, NaN when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return float("nan")


async def _load(url, models_dir, n_seeded, n_sessions, seconds, train_at, train_wait_s, server_pid=None, faces=6999):
    from playwright.async_api import async_playwright

    errors, timeline, rss = [], [], []
    result = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            sessions = []
            for n in range(n_sessions):
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                page.set_default_timeout(RUN_TIMEOUT_S * 1000)
                sessions.append(Session(n + 1, page, errors))

            stop = asyncio.Event()

            async def watch_store():  # trainings holding the lock, 5 times a second; the server's memory every 5 s
                while not stop.is_set():
                    timeline.append((time.time(), active_trainings(models_dir)))
                    if server_pid and (not rss or time.time() - rss[-1][0] >= 5):
                        rss.append((time.time(), server_rss_mb(server_pid)))
                    await asyncio.sleep(0.2)

            watcher = asyncio.create_task(watch_store())
            t_open = time.perf_counter()
            await asyncio.gather(*(s.open_saliency(url) for s in sessions))  # cold: all at once
            result["open_all_s"] = time.perf_counter() - t_open

            t_start = time.perf_counter()
            t_end = t_start + seconds
            trainers = sessions[:2] if n_sessions >= 2 else []
            ready = asyncio.Barrier(len(trainers)) if trainers else None

            async def drive(s: Session):
                k = 0
                trained = s not in trainers
                while time.perf_counter() < t_end or not trained:  # a trainer always gets to press Train
                    if not trained and time.perf_counter() - t_start >= train_at:
                        trained = True
                        await s.prepare_training()
                        await ready.wait()  # both forms ready: press Train together
                        await s.press_train()
                        await s.nav("Saliency")
                        continue
                    k += 1
                    await s.saliency_rerun((s.n + k * n_sessions) % faces + 1)  # a face nobody asked for yet

            await asyncio.gather(*(drive(s) for s in sessions))
            result["load_s"] = time.perf_counter() - t_start

            deadline = time.time() + train_wait_s  # let the queued trainings finish
            while time.time() < deadline:
                saved = [d for d in Path(models_dir).iterdir() if (d / "run.json").is_file()]
                if len(saved) >= n_seeded + len(trainers) and not active_trainings(models_dir):
                    break
                await asyncio.sleep(0.5)
            for s in trainers:
                await s.read_outcome()
            stop.set()
            await watcher
        finally:
            await browser.close()
    result.update(sessions=sessions, errors=errors, timeline=timeline, rss=rss)
    return result


def _percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_load(n_sessions: int = 4, seconds: float = 90.0, *, models_dir=None, url=None, archs=("cnn", "dnn"),
             train_at: float | None = None, train_wait_s: float = 240.0, server_env: dict | None = None,
             faces: int = 6999) -> dict:
    """Drive `n_sessions` browser sessions against one server for `seconds` (after all opened Saliency).

    models_dir: a seeded run store (default: a new temporary one, seeded with `archs`); url: a
    running server on that store (default: one is started and stopped here). Returns a dict:
    sessions, seconds, renders, renders_per_session, latencies, p50, p95, max, first_open_s,
    errors, training ({session: {"toast", "panel", "final", ...}}), max_concurrent_trainings,
    training_intervals, overlap_s, store ({"runs", "broken", "loadable"}), load_average.
    """
    if chromium_path() is None:
        raise RuntimeError("needs Chromium (/usr/bin/chromium or $CHROMIUM)")
    load_before = os.getloadavg()
    if models_dir is None:
        models_dir = tempfile.mkdtemp(prefix="fer-bench-concurrent-")
        seed_store(models_dir, archs)
    seeded = [d.name for d in Path(models_dir).iterdir() if (d / "run.json").is_file()]
    train_at = seconds / 4 if train_at is None else train_at

    def drive(u, pid=None):
        return asyncio.run(_load(u, models_dir, len(seeded), n_sessions, seconds, train_at, train_wait_s, pid, faces))

    if url is None:
        proc, started, _ = start_streamlit(models_dir, env=server_env)
        try:
            raw = drive(started, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    else:
        raw = drive(url)
    load_after = os.getloadavg()

    sessions = raw["sessions"]
    latencies = [lat for s in sessions for lat, _ in s.latencies]
    store = check_store(models_dir)
    new_runs = [r for r in store["runs"] if r not in seeded]
    intervals = {r: _interval(store["meta"][r]) for r in new_runs}
    spans = sorted(intervals.values())
    overlap = sum(max(0.0, min(a[1], b[1]) - b[0]) for a, b in zip(spans, spans[1:]))
    store.pop("meta")
    return {
        "sessions": n_sessions, "seconds": raw["load_s"], "open_all_s": raw["open_all_s"],
        "renders": len(latencies), "renders_per_session": {s.n: len(s.latencies) for s in sessions},
        "latencies": latencies, "p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95),
        "max": max(latencies) if latencies else float("nan"),
        "first_open_s": {s.n: s.first_open_s for s in sessions},
        "errors": raw["errors"], "training": {s.n: s.training for s in sessions if s.training},
        "max_concurrent_trainings": max((len(active) for _, active in raw["timeline"]), default=0),
        "trainings_seen": sorted({r for _, active in raw["timeline"] for r in active}),
        "training_intervals": intervals, "overlap_s": overlap,
        "seeded": seeded, "new_runs": new_runs, "store": store, "models_dir": str(models_dir),
        "load_average": (load_before[0], load_after[0]), "cpu_count": os.cpu_count(),
        "rss_mb": [(round(t - raw["rss"][0][0]), mb) for t, mb in raw["rss"]] if raw["rss"] else [],
    }


def report(r: dict) -> str:
    lines = [f"# concurrent sessions: {r['sessions']} headless Chromium sessions, {r['seconds']:.0f} s of load, "
             f"{r['cpu_count']} CPU cores, load average {r['load_average'][0]:.1f} before / {r['load_average'][1]:.1f} after",
             f"run store {r['models_dir']} (seeded: {', '.join(r['seeded'])})",
             f"all sessions opened Saliency (cold, at once) in  {r['open_all_s']:7.1f} s",
             f"Saliency reruns (new face each)                  {r['renders']:5d}  "
             f"(per session: {', '.join(f'{k}: {v}' for k, v in r['renders_per_session'].items())})",
             f"Saliency rerun latency p50                       {r['p50']:7.2f} s",
             f"Saliency rerun latency p95                       {r['p95']:7.2f} s",
             f"Saliency rerun latency max                       {r['max']:7.2f} s",
             f"errors seen on any page                          {len(r['errors']):5d}"]
    lines += [f"  {e}" for e in r["errors"][:20]]
    lines.append("training requests (pressed Train at the same moment):")
    for n, t in r["training"].items():
        lines.append(f"  session {n}: toast: {t.get('toast') or '(none seen)'}")
        lines.append(f"  session {n}: panel: {t.get('panel', '')[:300]}")
        lines.append(f"  session {n}: at the end: {t.get('final', '')[:300]}")
    lines.append(f"most trainings active at once (store .work/ polled 5x/s): {r['max_concurrent_trainings']} "
                 f"(seen: {', '.join(r['trainings_seen']) or 'none'})")
    for run_id, (a, b) in r["training_intervals"].items():
        lines.append(f"  {run_id}: trained {time.strftime('%H:%M:%S', time.localtime(a))} - "
                     f"{time.strftime('%H:%M:%S', time.localtime(b))}")
    lines.append(f"overlap between trainings: {r['overlap_s']:.1f} s")
    if r.get("rss_mb"):
        after_minute = [mb for t, mb in r["rss_mb"] if t >= 60] or [mb for _, mb in r["rss_mb"]]
        lines.append(f"server memory (RSS) after the first minute: {min(after_minute):.0f}-{max(after_minute):.0f} MB, "
                     f"at the end {r['rss_mb'][-1][1]:.0f} MB; every 30 s: "
                     + ", ".join(f"{t}s {mb:.0f}" for t, mb in r["rss_mb"] if t % 30 < 5))
    bad = {k: v for k, v in r["store"]["loadable"].items() if v is not True}
    lines.append(f"runs in the store: {len(r['store']['runs'])}, all load: {not bad and not r['store']['broken']}"
                 + (f" (problems: {bad} {r['store']['broken']})" if bad or r["store"]["broken"] else ""))
    return "\n".join(lines)


def _store_for(args) -> str | None:
    """A temporary copy of --models (the trainings the bench presses save into it), or None: seed one."""
    if not args.models:
        return None
    import shutil

    copy = Path(tempfile.mkdtemp(prefix="fer-bench-concurrent-")) / "models"
    shutil.copytree(args.models, copy, ignore=shutil.ignore_patterns(".work", ".lock"))
    return str(copy)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4, help="browser sessions (contexts) at once")
    ap.add_argument("--seconds", type=float, default=90.0, help="load time after every session opened Saliency")
    ap.add_argument("--archs", default="cnn,dnn", help="architectures of the seeded tiny runs (comma-separated)")
    ap.add_argument("--models", help="use a copy of this run store instead of seeding tiny runs (e.g. models)")
    ap.add_argument("--data", help="the server's data set (FER_DATA), e.g. ../shared/data/fer2013")
    ap.add_argument("--faces", type=int, default=6999, help="face indices asked for cycle through 1..N (FER2013 test: 3588)")
    ap.add_argument("--batching", choices=("on", "off", "both"), default="on",
                    help="shared batching of sessions' requests (FER_SHARED_BATCHING); both: off, then on, each on a "
                         "fresh server and store, with the ratios")
    ap.add_argument("--json", help="also write the results (latencies included) to this JSON file")
    ap.add_argument("--record", action="store_true", help="keep the figures in bench/records/ for docs/results.md")
    args = ap.parse_args(argv)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("needs the playwright package (pip install -r requirements-dev.txt)", file=sys.stderr)
        return 2
    if chromium_path() is None:
        print("needs Chromium: apt-get install -y chromium (or set $CHROMIUM)", file=sys.stderr)
        return 2
    results = {}
    for mode in (("off", "on") if args.batching == "both" else (args.batching,)):
        env = {"FER_SHARED_BATCHING": "1" if mode == "on" else "0", **({"FER_DATA": args.data} if args.data else {})}
        r = run_load(args.sessions, args.seconds, models_dir=_store_for(args), server_env=env, faces=args.faces,
                     archs=tuple(a for a in args.archs.split(",") if a))
        print(f"## shared batching {mode}" + (f", data {args.data}" if args.data else ""))
        print(report(r), flush=True)
        results[mode] = r
    if len(results) == 2:
        off, on = results["off"], results["on"]
        print(f"## shared batching on / off: p50 {on['p50']:.2f} / {off['p50']:.2f} s (x{off['p50'] / on['p50']:.2f} faster), "
              f"p95 {on['p95']:.2f} / {off['p95']:.2f} s (x{off['p95'] / on['p95']:.2f}), "
              f"reruns {on['renders']} / {off['renders']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if args.record:
        print("kept:", keep_record(args, results, argv))
    return 0


def keep_record(args, results: dict, argv) -> Path:
    """One record per configuration (sessions, run store, data), a row per batching mode."""
    from fer.documents.records import write_record

    store = "shipped runs" if args.models else f"tiny {args.archs} runs"
    data = "FER2013" if args.data else "the demo faces"
    rows = []
    for mode, r in results.items():
        after_minute = [mb for t, mb in r["rss_mb"] if t >= 60] or [mb for _, mb in r["rss_mb"]] or [float("nan")]
        rows.append({"shared batching": mode, "sessions": r["sessions"], "new faces": r["renders"],
                     "p50 s": round(r["p50"], 2), "p95 s": round(r["p95"], 2), "max s": round(r["max"], 2),
                     "all open Saliency s": round(r["open_all_s"], 1), "errors": len(r["errors"]),
                     "server RSS after 1 min, MB": f"{min(after_minute):.0f}-{max(after_minute):.0f}",
                     "load s": round(r["seconds"])})
    command = "python bench/concurrent_sessions.py " + " ".join(argv if argv is not None else sys.argv[1:])
    name = f"concurrent_sessions_{args.sessions}_{'shipped' if args.models else 'tiny'}_{'fer2013' if args.data else 'demo'}"
    return write_record(name, f"{args.sessions} browser sessions on one server: a new face on Saliency ({store}, {data})",
                        command, rows, note="Latency: the Enter key to the server's script_finished message, with "
                        "the Chromium sessions on the same 2 cores; two trainings are queued a quarter of the way in.")


if __name__ == "__main__":
    sys.exit(main())
