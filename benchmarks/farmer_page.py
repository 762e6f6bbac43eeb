"""The farmer's first page (/farmer, R-6.1) on a phone: bytes transferred (HTML, CSS, JS,
manifest and its icon — budget 100 KB) and the load time on a slow 3G profile (400 kbit/s both
ways, 400 ms latency) against the same page unthrottled, in the same run and the same browser.

    .venv/bin/python benchmarks/farmer_page.py [--runs 5] [--database-url URL]

Real Chromium (/usr/bin/chromium) at 360×780 against ``ctown serve`` on loopback, over the farmer
sample (:mod:`ctown.farmer.sample`). Each run is a first visit: a fresh browser context (no
service worker, no cache), signed in unthrottled, then the home loaded with the profile on or
off. Medians of ``--runs``; last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, running_server  # noqa: E402
from tests.browser import CHROMIUM_ARGS as ARGS  # noqa: E402

from ctown.db import make_engine, session_factory  # noqa: E402
from ctown.farmer import sample  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402

SLOW = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8,
        "uploadThroughput": 400_000 / 8}
FAST = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
PASSWORD = "pw-farmer-123"
BUDGET = 100 * 1024


def one_load(chromium: Any, base: str, profile: dict[str, Any]) -> tuple[float, dict[str, int]]:
    """Seconds to the load event of /farmer on a first visit, and bytes by resource."""
    # No service worker: the first visit of a phone that never saw the page (the worker's own
    # fetches would not be throttled by the page's profile either).
    context = chromium.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN",
                                   service_workers="block")
    try:
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("#username", "t_farmer")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/farmer")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", profile)
        urls: dict[str, str] = {}
        sizes: dict[str, int] = {}
        cdp.on("Network.responseReceived",
               lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))

        def done(e: dict[str, Any]) -> None:
            # A finished load whose response event was not seen (the icon, asked for twice):
            # counted all the same, under its own name.
            name = urls.get(e["requestId"], "(unnamed)").split("?")[0].removeprefix(base)
            sizes[name] = sizes.get(name, 0) + int(e["encodedDataLength"])

        cdp.on("Network.loadingFinished", done)
        start = time.perf_counter()
        page.goto(base + "/farmer", wait_until="load")
        seconds = time.perf_counter() - start
        page.evaluate("fetch('/farmer/manifest.webmanifest').then(r => r.text())")
        page.wait_for_timeout(300 if profile is FAST else 1500)
        return seconds, sizes
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        url = args.database_url or f"sqlite:///{var / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        with session_factory(engine).begin() as session:
            sample.build(session, password=PASSWORD)
        engine.dispose()
        with running_server(url, var) as base, sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            slow, fast, sizes = [], [], {}
            for _ in range(args.runs):  # interleaved, so both see the same machine load
                seconds, sizes = one_load(chromium, base, SLOW)
                slow.append(seconds)
                fast.append(one_load(chromium, base, FAST)[0])
            chromium.close()
    total = sum(sizes.values())
    print(f"first farmer page, 360×780, {args.runs} runs (medians)")
    for name, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {n:>7,} B")
    print(f"  {'total transferred':<40} {total:>7,} B  (budget {BUDGET:,} B: "
          f"{'within' if total < BUDGET else 'OVER'}, {total / BUDGET:.0%})")
    ms, mf = statistics.median(slow), statistics.median(fast)
    print(f"  load, slow 3G (400 kbit/s, 400 ms)   {ms:6.2f} s")
    print(f"  load, unthrottled (same run)          {mf:6.2f} s   ratio {ms / mf:.1f}×")
    print(json.dumps({"bytes": total, "budget": BUDGET, "by_resource": sizes,
                      "slow_s": round(ms, 3), "fast_s": round(mf, 3),
                      "ratio": round(ms / mf, 2), "runs": args.runs}))


if __name__ == "__main__":
    main()
