"""The command line as a user runs it: results on the sample media, one-line errors on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli.main import main
from engine.geometry import mask_iou, polygon_to_mask
from engine.types import Polygon

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_media"
MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_describes_the_sample_video(capsys):
    code, out, _ = run(capsys, "info", SAMPLES / "video.mp4", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["frames"] == MANIFEST["video"]["frames"]
    assert (info["width"], info["height"]) == (640, 360)
    assert info["fps"] == pytest.approx(24, abs=0.01)


def test_segment_prints_a_polygon_that_matches_ground_truth_and_writes_an_overlay(capsys, tmp_path):
    ball = MANIFEST["objects"][0]
    x, y = ball["still"]["click"]
    x0, y0, x1, y1 = ball["still"]["box"]
    overlay = tmp_path / "overlay.png"
    box = f"{x0 - 6},{y0 - 6},{x1 + 6},{y1 + 6}"  # a loose drag around the spotted, shaded ball
    code, out, err = run(
        capsys, "segment", SAMPLES / "still.jpg", "--box", box, "--point", f"{x},{y}", "--json", "--overlay", overlay
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["backend"] == "classic" and result["shape"]["type"] == "polygon"
    parts = tuple(tuple(np.array(r, float) for r in part) for part in result["shape"]["parts"])
    gt = cv2.imread(str(SAMPLES / MANIFEST["still"]["mask"]), cv2.IMREAD_UNCHANGED) == ball["id"]
    assert mask_iou(polygon_to_mask(Polygon(parts), *gt.shape), gt) > 0.9
    image = cv2.imread(str(overlay))[..., ::-1].astype(int)
    frame = cv2.imread(str(SAMPLES / "still.jpg"))[..., ::-1].astype(int)
    core = cv2.erode(gt.astype(np.uint8), np.ones((15, 15))).astype(bool)
    # The selection is tinted blue: blue rises, red falls inside the object.
    assert (image[core, 2] - frame[core, 2]).mean() > 30
    assert (image[core, 0] - frame[core, 0]).mean() < -20
    far = ~cv2.dilate(gt.astype(np.uint8), np.ones((41, 41))).astype(bool)
    assert np.abs(image[far] - frame[far]).mean() < 1.0  # untouched away from the object and prompts


def test_segment_box_shape_with_box_prompt(capsys):
    leaf = MANIFEST["objects"][2]
    x0, y0, x1, y1 = leaf["still"]["box"]
    code, out, err = run(
        capsys, "segment", SAMPLES / "still.jpg", "--box", f"{x0-4},{y0-4},{x1+4},{y1+4}", "--shape", "box", "--json"
    )
    assert code == 0, err
    box = json.loads(out)["shape"]["box"]
    assert np.abs(np.array(box) - np.array([x0, y0, x1, y1])).max() <= 6


def test_segment_exclude_point_and_text_output(capsys):
    ball = MANIFEST["objects"][0]
    x, y = ball["video"]["click"]
    code, out, err = run(capsys, "segment", SAMPLES / "video.mp4", "--frame", "3", "--point", f"{x},{y},1", "--point", "5,5,0")
    assert code == 0, err
    assert out.startswith("polygon:") and "classic" in out


def _zero_frame_video(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height = 64, 48
    return path


@pytest.mark.parametrize(
    "case, argv, message",
    [
        ("missing", ["info", "{tmp}/nope.mp4"], "nope.mp4"),
        ("unknown extension", ["info", "{tmp}/notes.xyz"], "notes.xyz"),
        ("corrupt video", ["info", "{tmp}/corrupt.mp4"], "corrupt.mp4"),
        ("truncated video", ["segment", "{tmp}/truncated.mp4", "--frame", "40", "--point", "10,10"], "truncated.mp4"),
        ("zero frames", ["info", "{tmp}/empty.mp4"], "empty.mp4"),
        ("frame out of range", ["segment", "{samples}/video.mp4", "--frame", "999", "--point", "10,10"], "999"),
        ("point outside", ["segment", "{samples}/still.jpg", "--point", "5000,10"], "outside"),
        ("bad point", ["segment", "{samples}/still.jpg", "--point", "ten,10"], "--point"),
        ("empty box", ["segment", "{samples}/still.jpg", "--box", "10,10,10,40"], "empty"),
        ("no prompt", ["segment", "{samples}/still.jpg"], "at least one"),
        ("bad quality", ["segment", "{samples}/still.jpg", "--point", "10,10", "--quality", "7"], "quality"),
        ("missing checkpoint", ["segment", "{samples}/still.jpg", "--point", "1,1", "--backend", "sam"], "checkpoint"),
        ("wrong checkpoint", ["segment", "{samples}/still.jpg", "--point", "1,1", "--checkpoint", "{tmp}/garbage.pth"], "garbage.pth"),
    ],
)
def test_bad_input_gives_one_line_error_and_nonzero_exit(capsys, tmp_path, case, argv, message):
    (tmp_path / "notes.xyz").write_text("hello")
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(20000))
    data = (SAMPLES / "video.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint at all" * 10)
    _zero_frame_video(tmp_path / "empty.mp4")
    argv = [a.format(tmp=tmp_path, samples=SAMPLES) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code != 0, f"{case}: exit 0"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{case}: {err}"
    assert lines[0].startswith("framewise: error:") and message in lines[0], lines[0]
    assert "Traceback" not in err


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "info", str(tmp_path / "missing.mkv")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("framewise: error:") and "Traceback" not in result.stderr
