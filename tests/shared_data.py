"""Evaluation data for the tests: the real sets of ``../shared/data`` (see its README), and
small DAVIS / click-set layouts made from the tracked sample media, so that the evaluation
harnesses run in a fresh clone too.

A test that needs the real data calls `shared_data`: it skips naming the missing path in a
fresh clone, and fails instead where the data must be there (``$CI`` or
``$FRAMEWISE_REQUIRE_DATA`` set), so a wrong path cannot turn CI's evaluation tests into
silent skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.media.images import read_id_mask

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "sample_media"
REQUIRE_ENV = ("CI", "FRAMEWISE_REQUIRE_DATA")
SAMPLE_OBJECTS = {1: "ball", 2: "frame", 3: "leaf"}  # engine.demo.samples.OBJECTS
SAMPLE_FOLDER_FRAMES = 24  # sample_media/frames/frame_0.jpg … frame_23.jpg


def shared_data(relative: str) -> Path:
    """``../shared/data/<relative>``; skips (or, with ``$CI`` / ``$FRAMEWISE_REQUIRE_DATA``
    set, fails) naming the path when it is absent."""
    path = SHARED_DATA / relative
    if path.exists():
        return path
    message = f"evaluation data {path} absent (../shared/data is not in a fresh clone)"
    required = [name for name in REQUIRE_ENV if os.environ.get(name)]
    if required:
        pytest.fail(f"{message}; ${required[0]} is set, so it must be there")
    pytest.skip(message)


def sample_davis(root: Path, frames: int = 8) -> Path:
    """A DAVIS-2016 layout of the sample media under ``root``: one sequence per sample
    object (``JPEGImages/<name>/00000.jpg …`` from the image folder, ``Annotations/<name>/
    00000.png …`` 0/255 from the object-id masks), first ``frames`` frames."""
    for index in range(frames):
        ids = read_id_mask(SAMPLES / "masks" / "video" / f"{index:05d}.png")
        for object_id, name in SAMPLE_OBJECTS.items():
            images, annotations = root / "JPEGImages" / name, root / "Annotations" / name
            images.mkdir(parents=True, exist_ok=True)
            annotations.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLES / "frames" / f"frame_{index}.jpg", images / f"{index:05d}.jpg")
            cv2.imwrite(str(annotations / f"{index:05d}.png"), np.where(ids == object_id, 255, 0).astype(np.uint8))
    return root


def sample_iseg(root: Path) -> Path:
    """A click-set layout (``images/<name>.jpg``, ``masks/<name>.png`` 0/255) of the sample
    media: every object of the still and of image-folder frames 0 and 12."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    sources = [("still", SAMPLES / "still.jpg", SAMPLES / "masks" / "still.png")]
    sources += [(f"frame{k}", SAMPLES / "frames" / f"frame_{k}.jpg", SAMPLES / "masks" / "video" / f"{k:05d}.png")
                for k in (0, 12)]
    for stem, image, mask in sources:
        ids = read_id_mask(mask)
        for object_id, name in SAMPLE_OBJECTS.items():
            if (ids == object_id).any():
                shutil.copyfile(image, root / "images" / f"{stem}-{name}.jpg")
                cv2.imwrite(str(root / "masks" / f"{stem}-{name}.png"), np.where(ids == object_id, 255, 0).astype(np.uint8))
    return root
