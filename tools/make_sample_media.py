#!/usr/bin/env python3
"""Write (or check) the bundled sample media: ``python tools/make_sample_media.py [--check] [OUT]``.

The renderer is `engine.demo.samples`; see ``sample_media/README.md`` for the layout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.demo import samples  # noqa: E402  (after the path tweak, so it runs from a checkout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "sample_media", help="output folder")
    parser.add_argument("--check", action="store_true", help="verify an existing set instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = samples.verify_sample_media(args.out)
        for problem in problems:
            print(f"{args.out}: {problem}", file=sys.stderr)
        print(f"{args.out}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    manifest = samples.write_sample_media(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out}: {manifest['video']['frames']} video frames, "
          f"{manifest['image_folder']['frames']} folder frames, 1 still, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
