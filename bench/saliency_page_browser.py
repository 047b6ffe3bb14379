"""The Saliency page in a real browser: how long a new face takes, from the keypress to the end of the page's run.

    python bench/saliency_page_browser.py [--data ../shared/data/fer2013] [--models models] [--faces 7]

Starts `streamlit run streamlit_app.py` on the data and run store given, opens the Saliency page in
headless Chromium (Debian's /usr/bin/chromium driven by playwright; nothing downloaded), waits for
the warm-up, then types a new "Index in test" `--faces` times: each is a face the page has not seen,
explained by its default runs (the most accurate CNN, DNN and MobileNet) with all 5 methods, for the
true and the predicted class. A face's time runs from the Enter key to the server's "script run
finished" message as the browser receives it (decoded from the websocket). Printed: every time and
the median of all but the first two (new input shapes are traced then). Target: <= 0.7 s.

The browser renders on the same cores as the server; a background training doubles the figures.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fer2013"))
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--faces", type=int, default=7)
    p.add_argument("--first-index", type=int, default=11)
    p.add_argument("--settle", type=float, default=20.0, help="seconds on the page before timing (the warm-up)")
    args = p.parse_args()

    from browser_harness import CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, streamlit_server

    sync_api = playwright_sync_api()
    if chromium_path() is None or sync_api is None:
        sys.exit("needs /usr/bin/chromium (apt-get install -y chromium) and playwright (requirements-dev.txt)")
    if not Path(args.data).exists():
        sys.exit(f"no data at {args.data}")
    env = {"FER_DATA": str(Path(args.data).resolve())}
    with streamlit_server(Path(args.models).resolve(), env=env) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(300_000)
        runs = RunWatcher(page)
        page.goto(f"{url}/saliency")
        runs.wait_next(page, 0, 300)
        page.wait_for_timeout(int(args.settle * 1000))
        box = page.get_by_label("Index in test", exact=False)
        times = []
        for k in range(args.faces):
            seen = len(runs.finished)
            box.fill(str(args.first_index + k))
            start = time.perf_counter()
            box.press("Enter")
            times.append(runs.wait_next(page, seen, 300) - start)
            page.wait_for_timeout(500)
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
        browser.close()
    rest = times[2:] or times
    print(f"# load average {os.getloadavg()[0]:.2f}; data {args.data}; runs from {args.models}")
    print("new face, s:", " ".join(f"{t:.2f}" for t in times))
    print(f"Saliency page, a new face (3 runs x 5 methods, headless Chromium): median {statistics.median(rest):.2f} s "
          f"of the last {len(rest)} (target <= 0.7)" + (f"; {errors} error box(es) on the page!" if errors else ""))


if __name__ == "__main__":
    main()
