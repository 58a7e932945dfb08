"""The size limits every reader and writer of user files enforces, in one place.

A few bytes of a crafted file can *declare* sizes (frames, pixels, object ids, changes)
that would make a naive reader or a later export allocate gigabytes or loop for hours.
Each limit below is checked where the number first enters (media header, import, session,
checkpoint), and again by the exports, so a project holding a declared size over a limit
(from an older version, or a crafted database) is refused with one line, not after a crash.
"""

from __future__ import annotations

MAX_FRAME_PIXELS = 1 << 28
"""Pixels of one frame, image or mask (16384×16384): larger is refused before decoding or
allocating."""

MAX_FRAMES = 10_000_000
"""Frames of one media (4.6 days at 25 fps). Found by fuzzing: a declared ``frames`` of
2**63 made the COCO import loop over every frame index."""

MAX_ID = (1 << 63) - 1
"""Largest object, track or frame id stored (SQLite's INTEGER is signed 64-bit)."""
