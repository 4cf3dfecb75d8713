#!/usr/bin/env python
"""Regenerate the sample data in this folder (deterministic: the same bytes on every run with the same
library versions; the videos need the optional ``imageio-ffmpeg`` package and are kept when it is missing).

    python data/generate.py                 # everything, into data/
    python data/generate.py --out /tmp/d    # somewhere else
    python data/generate.py --quick         # a representative subset (what tests/test_data.py re-checks)

Nothing is downloaded: sources are scikit-image's bundled sample images, the sandbox's synthetic faces,
and numpy/Pillow drawing. Provenance and licences: README.md beside this script.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the toolkit package, for the sandbox's face engine

from samplegen import aoi, camera_traps, faces, media, products  # noqa: E402

PARTS = ("camera_traps", "aoi", "media", "products", "faces")


def generate(out: Path, parts: tuple[str, ...] = PARTS, quick: bool = False, video: bool = True) -> list[Path]:
    """Write the sample files under ``out``; ``quick`` writes a representative, fast subset. Returns the paths."""
    written: list[Path] = []
    for part in parts:
        start = time.perf_counter()
        if part == "camera_traps":
            written += camera_traps.generate(out, cameras=["CAM02"] if quick else None)
        elif part == "aoi":
            written += aoi.generate(out)
        elif part == "media":
            written += media.generate(out, ("images", "audio") if quick else
                                      ("images", "audio", "video") if video else ("images", "audio"))
        elif part == "products":
            written += products.generate(out, ["box.jpg", "ball.png", "lamp.webp"] if quick else None)
        elif part == "faces":
            written += faces.generate(out, chunks=[0] if quick else None)
        else:
            raise ValueError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        print(f"{part}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this data/ folder)")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS))
    ap.add_argument("--quick", action="store_true", help="only a representative subset of each part")
    ap.add_argument("--no-video", action="store_true", help="keep the existing videos")
    args = ap.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    paths = generate(args.out, parts, quick=args.quick, video=not args.no_video)
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files, {total / 1e6:.2f} MB under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
