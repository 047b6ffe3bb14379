"""App latency: cold start to first render, and page-switch times, printed as a table.

    python bench/app_latency.py                     # real server + headless Chromium when available
    python bench/app_latency.py --mode apptest      # no browser: streamlit.testing AppTest timings
    python bench/app_latency.py --models models     # measure against a real run store (read only)
    python bench/app_latency.py --models models --data ../shared/data/fer2013 --read 30 --fresh --record

Browser mode (needs /usr/bin/chromium and the `playwright` package, no Playwright browser
download): launches `streamlit run streamlit_app.py` on a free 127.0.0.1 port, and reports
  * server up: launch -> /_stcore/health answers 200,
  * first render: launch -> the Overview page's heading is visible in Chromium,
  * page switch: click in the sidebar navigation -> the server reports the new page's script
    run finished (its `script_finished` websocket message; all its elements have been sent),
    once cold (first visit: imports, data generation, model loads) and once warm (cached).
AppTest mode times `AppTest.run()` for the first page and `switch_page` + `run()` per page
(cold, then warm); there is no browser or network in those numbers.

Test-split scores, class maps and ladders persist in ~/.streamlit/cache (st.cache_data
persist="disk"); the shipped runs carry their size ladders and trust tables (`ladder.json`,
`trust.json`); after the first page a background thread (ui/warmup.py) loads the data, the default
runs and their traced explanation functions, the test scores, class maps and filter images.
`--read 20` spends 20 s on the Overview before the first click, as a person reading it would.
Measured here on a fresh start (`streamlit cache clear`, a fresh FER_CACHE_DIR, the demo faces,
`python bench/app_latency.py --models models --rounds 3 --read 20`, the background training paused):
first render 3.4 s; first visits 0.3-2.1 s (Compression 2.1, Class maps 1.6, Saliency 1.35);
revisits 0.3-1.0 s (most 0.55-0.75). Without the warm-up's head start (`--read 0`): Saliency 2.7 s,
Compression 18-25 s before the ladders were kept beside the runs.

`--fresh` gives the server a new empty HOME and FER_CACHE_DIR (no Streamlit disk cache, no cached
data set: a fresh machine); `--data` opens that data set instead of the demo faces (FER_DATA);
`--record` keeps the per-page figures in `bench/records/app_latency_<store>_<data>.json`.

By default it uses an empty temporary run store (FER_MODELS_DIR), so pages that need a model
show their "train a quick model" offer; pass --models to time them with real runs. The machine's
load matters a lot (2 shared cores here): the load average is printed with the results.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from browser_harness import CHROMIUM_ARGS, RunWatcher, chromium_path, streamlit_server  # noqa: E402

BUSY_JS = """() => !!document.querySelector(
    '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"],'
    + ' [data-testid="stSpinner"], [data-testid="stSkeleton"], [data-testid="stAppSkeleton"], [data-stale="true"]')"""
SETTLE_S = 0.5


def wait_quiet(page, timeout_s: float = 300.0) -> float:
    """Seconds until the page has been idle for SETTLE_S (the settle time not included)."""
    start = time.perf_counter()
    quiet_since = None
    while time.perf_counter() - start < timeout_s:
        if page.evaluate(BUSY_JS):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= SETTLE_S:
            return quiet_since - start
        page.wait_for_timeout(50)
    raise TimeoutError("page did not finish")


def server_env(data: str | None, fresh: bool) -> dict:
    """FER_DATA for `data`; with `fresh`, a new HOME and cache folder (nothing cached on disk)."""
    env = {"FER_DATA": str(Path(data).resolve())} if data else {}
    if fresh:
        home = tempfile.mkdtemp(prefix="fer-bench-home-")
        env.update(HOME=home, FER_CACHE_DIR=str(Path(home) / "fer-cache"))
    return env


def bench_browser(models: str, rounds: int, read_s: float = 0.0, env: dict | None = None) -> list:
    from playwright.sync_api import sync_playwright

    rows = []
    t0 = time.perf_counter()
    with streamlit_server(models, env=env, poll_s=0.05) as url:
        rows.append(("server up (launch -> health 200)", time.perf_counter() - t0))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            runs = RunWatcher(page)
            t_nav = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("heading", name="FER workbench").first.wait_for(timeout=120_000)
            rows.append(("first render (launch -> Overview heading visible)", time.perf_counter() - t0))
            rows.append(("  of which browser load -> heading", time.perf_counter() - t_nav))
            done = runs.wait_next(page, 0, 300)
            rows.append(("Overview complete (launch -> its script run finished)", done - t0))
            wait_quiet(page)
            if read_s:  # a person reads the Overview before clicking: the background warm-up runs meanwhile
                page.wait_for_timeout(int(read_s * 1000))
                rows.append((f"  (then {read_s:g} s on the Overview before the first click)", read_s))
            nav = page.locator('[data-testid="stSidebarNav"] a')
            labels = [nav.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(nav.count())]
            for round_ in range(rounds):
                kind = "cold" if round_ == 0 else "warm"
                for i, label in enumerate(labels):
                    seen = len(runs.finished)
                    start = time.perf_counter()
                    page.locator('[data-testid="stSidebarNav"] a').nth(i).click()
                    took = runs.wait_next(page, seen, 600) - start
                    wait_quiet(page)
                    rows.append((f"switch to {label} ({kind})", took))
            browser.close()
    return rows


def bench_apptest(models: str, rounds: int) -> list:
    os.environ["FER_MODELS_DIR"] = models
    from streamlit.testing.v1 import AppTest

    pages = ["home", "data", "models", "train", "evaluate", "compare", "misclassified", "saliency", "filters", "compression"]
    rows = []
    t0 = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    rows.append(("first render (AppTest.run of the Overview)", time.perf_counter() - t0))
    for round_ in range(rounds):
        kind = "cold" if round_ == 0 else "warm"
        for p in pages:
            start = time.perf_counter()
            at.switch_page(f"views/{p}.py")
            at.run()
            rows.append((f"switch to {p} ({kind})" + (" EXCEPTION" if at.exception else ""), time.perf_counter() - start))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("auto", "browser", "apptest"), default="auto")
    ap.add_argument("--models", default=None, help="run store to use (default: a new empty temporary folder)")
    ap.add_argument("--rounds", type=int, default=2, help="visits per page: the first is cold, the rest warm")
    ap.add_argument("--read", type=float, default=0.0, help="seconds spent on the Overview before the first click "
                                                            "(browser mode; the warm-up works meanwhile)")
    ap.add_argument("--data", default=None, help="data set to open (FER_DATA), e.g. ../shared/data/fer2013")
    ap.add_argument("--fresh", action="store_true", help="a new empty HOME and FER_CACHE_DIR for the server")
    ap.add_argument("--record", action="store_true", help="keep the figures in bench/records/ for docs/results.md")
    args = ap.parse_args(argv)
    models = args.models or tempfile.mkdtemp(prefix="fer-bench-models-")
    mode = args.mode
    if mode == "auto":
        try:
            import playwright  # noqa: F401

            mode = "browser" if chromium_path() else "apptest"
        except ImportError:
            mode = "apptest"
    if mode == "browser":
        rows = bench_browser(models, args.rounds, args.read, server_env(args.data, args.fresh))
    else:
        rows = bench_apptest(models, args.rounds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# app latency ({mode} mode), run store {models}, {os.cpu_count()} CPU cores, load average {load:.1f}")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.2f} s")
    if args.record:
        print("kept:", keep_record(args, rows, argv))
    return 0


def keep_record(args, rows: list, argv) -> Path:
    """One row per page: its first visit and its revisits (the slowest of them)."""
    from fer.documents.records import write_record

    pages = {}
    for name, seconds in rows:
        if name.startswith("switch to "):
            label, kind = name[len("switch to "):].rsplit(" (", 1)
            entry = pages.setdefault(label, {"page": label, "first visit s": None, "revisit s": None})
            if kind.startswith("cold"):
                entry["first visit s"] = round(seconds, 2)
            else:
                entry["revisit s"] = max(entry["revisit s"] or 0.0, round(seconds, 2))
    store = "shipped" if args.models else "empty"
    data = "fer2013" if args.data else "demo"
    command = "python bench/app_latency.py " + " ".join(argv if argv is not None else sys.argv[1:])
    note = (f"A fresh server ({'new HOME and caches, ' if args.fresh else ''}{args.read:g} s on the Overview first); "
            "each page opened from the sidebar in menu order, timed from the click to the server's script_finished.")
    return write_record(f"app_latency_{store}_{data}", f"Every page's first visit and revisit in Chromium ({store} runs, "
                        f"{'FER2013' if args.data else 'the demo faces'})", command, list(pages.values()), note=note)


if __name__ == "__main__":
    sys.exit(main())
