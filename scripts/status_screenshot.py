#!/usr/bin/env python3
"""Redo docs/status-page.png: the status page of the bundled demo, in headless Chromium.

    .venv/bin/python scripts/status_screenshot.py [--demo DIR]

Runs ``stategate demo --out DIR`` (a few minutes; skipped when DIR/platform already
holds a finished demo), then ``stategate status --html``, and captures the page at
1280 px with Chromium (tests/browser.py drives it). stategate itself never starts a
browser.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, png_size  # noqa: E402

OUT = ROOT / "docs" / "status-page.png"
MAX_BYTES = 200 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, help="demo folder (kept; default: a temp one)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    demo = (args.demo or Path(tempfile.mkdtemp(prefix="stategate-demo-"))).resolve()
    stategate = [sys.executable, "-m", "stategate"]
    if not (demo / "reports" / "apply.json").is_file():
        subprocess.run([*stategate, "demo", "--out", str(demo)], check=True)
    site = demo / "site"
    subprocess.run(
        [*stategate, "status", "--repo", str(demo / "platform"), "--html", str(site)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with Browser() as browser:
        browser.open((site / "index.html").as_uri(), 1280, 900, mobile=False)
        height = int(browser.evaluate("document.documentElement.scrollHeight"))
        browser.open((site / "index.html").as_uri(), 1280, min(height, 1100), mobile=False)
        data = browser.capture()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{args.out}: {len(data)} bytes, over {MAX_BYTES}: shrink the capture")
    args.out.write_bytes(data)
    width, shown = png_size(data)
    print(f"wrote {args.out} ({width}x{shown}, {len(data)} bytes) from {demo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
