"""`media_stem` (the one name rule of exports and prelabel folders) and `read_id_mask` (the
one mask reader)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import MediaError
from engine.media.fingerprint import media_stem
from engine.media.images import read_id_mask
from engine.types import MediaInfo


def info(name: str, frame_names: tuple[str, ...] = ()) -> MediaInfo:
    return MediaInfo(name, "", 4, 4, max(1, len(frame_names)), 1.0, frame_names=frame_names)


@pytest.mark.parametrize(
    ("name", "frame_names", "stem"),
    [
        ("clips/a.mp4", (), "a"),
        ("shots/take.2", ("1.png", "2.png"), "take.2"),  # a folder keeps its dots
        ("shots/*.png", ("1.png", "2.png"), "shots"),  # a glob: its folder
        ("stills/a.png", ("a.png",), "a"),  # a still
        ("C:\\videos\\my clip!.mp4", (), "my_clip_"),  # backslashes, runs of unsafe characters
        ("../../evil/..", (), "media"),  # never empty, . or ..
        ("...mp4", (), "media"),
        (".hidden.mp4", (), "hidden"),
    ],
)
def test_media_stem_of_a_media_info(name, frame_names, stem):
    assert media_stem(info(name, frame_names)) == stem


def test_media_stem_of_a_path_agrees_with_the_media_info(tmp_path):
    folder = tmp_path / "take.2"
    folder.mkdir()
    video = tmp_path / "a[1].mp4"  # glob characters in an existing file's name
    video.write_bytes(b"")
    assert media_stem(folder) == media_stem(info(str(folder), ("1.png",))) == "take.2"
    assert media_stem(str(video)) == media_stem(info(str(video))) == "a_1_"
    assert media_stem(f"{tmp_path}/frames/*.png") == "frames"
    assert media_stem(tmp_path / "clip.mp4") == "clip"  # not there yet: a file
    for escape in ("..", ".", "/"):
        assert media_stem(escape) not in ("", ".", "..")


def test_read_id_mask_keeps_palette_indexes_and_grey_values(tmp_path):
    ids = np.zeros((6, 8), np.uint8)
    ids[1:3, 1:4], ids[4:, 5:] = 1, 2
    palette = tmp_path / "palette.png"
    image = Image.fromarray(ids, mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    image.save(palette)
    assert cv2.imread(str(palette), cv2.IMREAD_UNCHANGED).ndim == 3  # OpenCV gives the colours
    np.testing.assert_array_equal(read_id_mask(palette), ids)
    assert read_id_mask(palette).dtype == np.uint8
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), ids * 100)
    np.testing.assert_array_equal(read_id_mask(grey), ids * 100)
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), ids.astype(np.uint16) * 1000)
    np.testing.assert_array_equal(read_id_mask(wide), ids.astype(np.uint16) * 1000)
    grey_alpha = tmp_path / "la.png"  # as one davis16-train10 annotation is stored
    Image.fromarray(np.dstack([ids * 100, np.full_like(ids, 255)]), mode="LA").save(grey_alpha)
    np.testing.assert_array_equal(read_id_mask(grey_alpha), ids * 100)


def test_read_id_mask_refuses_colour_missing_and_corrupt_files(tmp_path: Path):
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((4, 4, 3), np.uint8))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    for path, message in ((colour, "not an id mask"), (tmp_path / "missing.png", "cannot read"),
                          (corrupt, "cannot read")):
        with pytest.raises(MediaError, match=message) as caught:
            read_id_mask(path)
        assert str(path) in str(caught.value)
