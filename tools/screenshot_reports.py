"""Look at the reports as a reader would: headless Chromium screenshots of the HTML reports of an output folder.

Usage::

    python tools/screenshot_reports.py OUTPUT_DIR [--out FOLDER] [--participants N]

Writes, for ``group/report.html`` and the first N ``sub-*.html``, full-page PNG screenshots cut into 1,600-pixel
pages (``<report>_p1.png`` ...), and prints each file. Needs ``chromium`` (Debian package ``chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH, TALL, PAGE = 1200, 30000, 1600


def screenshot(html: Path, png: Path, chromium: str) -> None:
    """A screenshot of the whole page (rendered tall, then trimmed of the blank space below the content)."""
    from PIL import Image, ImageChops

    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={WIDTH},{TALL}", f"--screenshot={png}",
                        html.resolve().as_uri()], check=True, capture_output=True, timeout=300)
    img = Image.open(png).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, "white")).getbbox()
    img.crop((0, 0, WIDTH, min(img.height, (box[3] if box else PAGE) + 20))).save(png)


def pages(png: Path) -> list:
    """Cut a tall screenshot into pages a person (or an image viewer) can read."""
    from PIL import Image

    img = Image.open(png)
    out = []
    for k, top in enumerate(range(0, img.height, PAGE), start=1):
        path = png.with_name(f"{png.stem}_p{k}.png")
        img.crop((0, top, img.width, min(img.height, top + PAGE))).save(path)
        out.append(path)
    png.unlink()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report_screenshots"))
    parser.add_argument("--participants", type=int, default=2)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        print("chromium not found: install the Debian package 'chromium'", file=sys.stderr)
        return 2
    reports = [args.output_dir / "group" / "report.html"] + sorted(args.output_dir.glob("sub-*.html"))[
        : args.participants]
    reports = [r for r in reports if r.exists()]
    if not reports:
        print(f"no report in {args.output_dir}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for report in reports:
        name = "group_report" if report.parent.name == "group" else report.stem
        png = args.out / f"{name}.png"
        screenshot(report, png, chromium)
        for page in pages(png):
            print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
