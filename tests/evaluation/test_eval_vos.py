"""The DAVIS measures (J, F) on masks with known answers, and small `eval vos` / `eval
effort` runs on a DAVIS layout made from the sample media and on the real davis16-train10."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.evaluation.vos import boundary_map, boundary_tolerance, copy_first, f_measure, list_sequences, run_sequence
from engine.geometry import mask_iou as j_measure  # J, the region similarity, is the IoU
from tests.shared_data import sample_davis, shared_data


@pytest.fixture(params=["sample", "davis16-train10"])
def davis(request, tmp_path_factory) -> Path:
    """A DAVIS-layout folder: the sample media's objects, or the real set."""
    if request.param == "sample":
        return sample_davis(tmp_path_factory.mktemp("davis"))
    return shared_data(request.param)


def square(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)


def test_j_is_iou_of_mgrid_squares() -> None:
    a = square(60, 80, 10, 10, 30, 30)  # 400 px
    b = square(60, 80, 20, 10, 40, 30)  # 400 px, 200 shared
    assert j_measure(a, b) == pytest.approx(200 / 600)
    assert j_measure(a, a) == 1.0
    assert j_measure(a, np.zeros_like(a)) == 0.0
    assert j_measure(np.zeros_like(a), np.zeros_like(a)) == 1.0  # empty GT, empty prediction


def test_boundary_map_of_a_square_is_a_ring_of_4s_pixels() -> None:
    # The DAVIS boundary marks pixels that differ from their east, south or south-east
    # neighbour: the square's right column and bottom row, and the outside column to its
    # left, the outside row above it and the corner pixel between them: 4·s pixels.
    mask = square(40, 50, 10, 12, 20, 22)
    bmap = boundary_map(mask)
    assert np.count_nonzero(bmap) == 40
    assert bmap[12:22, 19].all() and bmap[21, 10:20].all()  # inside right column, bottom row
    assert bmap[12:22, 9].all() and bmap[11, 10:20].all() and bmap[11, 9]  # outside left, above, corner
    assert not bmap[13:21, 10:19].any()  # interior


def test_tolerance_is_ceil_of_0008_diagonal() -> None:
    assert boundary_tolerance((480, 854)) == int(np.ceil(0.008 * np.hypot(480, 854))) == 8
    assert boundary_tolerance((100, 100), 3) == 3


@pytest.mark.parametrize("shift, expected", [(0, 1.0), (5, 1.0), (8, 1.0), (9, 0.0), (30, 0.0)])
def test_f_matches_within_the_tolerance_disc(shift: int, expected: float) -> None:
    # Left half-planes: each boundary is one column; shifted by `shift` columns they match
    # exactly when shift ≤ r (= 8 px on a 854×480 frame), not at all beyond.
    height, width = 480, 854
    gt = square(height, width, 0, 0, 400, height)
    pred = square(height, width, 0, 0, 400 + shift, height)
    assert f_measure(gt, pred) == pytest.approx(expected)


def test_f_partial_match_has_the_analytic_value() -> None:
    # The prediction's lower half is shifted by D = 20 > r = 8 columns. Its boundary: the
    # upper column (H/2 px, matched), a step of D px on row H/2-1 (the r nearest matched)
    # and the lower column (H/2 px, unmatched): precision (H/2 + r) / (H + D). The ground
    # truth column is matched on its upper half plus r rows below the step: recall
    # (H/2 + r) / H.
    height, width, shift, r = 480, 854, 20, 8
    gt = square(height, width, 0, 0, 400, height)
    pred = gt.copy()
    pred[height // 2 :, 400 : 400 + shift] = True
    precision = (height / 2 + r) / (height + shift)
    recall = (height / 2 + r) / height
    assert f_measure(gt, pred) == pytest.approx(2 * precision * recall / (precision + recall))


def test_f_empty_cases() -> None:
    empty = np.zeros((30, 40), bool)
    some = square(30, 40, 5, 5, 15, 15)
    assert f_measure(empty, empty) == 1.0
    assert f_measure(some, empty) == 0.0
    assert f_measure(empty, some) == 0.0


def test_copy_baseline_scores_frames_except_first_and_last(davis: Path) -> None:
    sequence = list_sequences(davis)[0]
    result = run_sequence(sequence, copy_first, frames_limit=4)
    assert result.frames == [1, 2, 3]
    first = sequence.ground_truth(0)
    assert result.j == pytest.approx([j_measure(sequence.ground_truth(k), first) for k in (1, 2, 3)])


def test_eval_vos_cli_on_davis(davis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    out = tmp_path / "vos.json"
    code = main(["eval", "vos", str(davis), "--limit", "1", "--frames-limit", "4", "--quality", "0.3", "--json", "--out", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    for key in ("J", "F", "JF", "fps", "sequences", "baselines"):
        assert key in report
    assert set(report["baselines"]) == {"copy", "warp"}
    (seq,) = report["sequences"]
    assert seq["scored"] == 3 and seq["frames"] == 4
    assert report["JF"] == pytest.approx((report["J"] + report["F"]) / 2, abs=1e-3)
    assert 0.0 <= report["J"] <= 1.0 and report["fps"] > 0
    # re-segmenting must not be worse than copying the first mask on a moving object
    assert report["JF"] >= report["baselines"]["copy"]["JF"]


def test_eval_effort_cli_on_davis(davis: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    code = main(["eval", "effort", str(davis), "--limit", "1", "--frames-limit", "4", "--quality", "0.3", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    with_prop, clicks_only = report["propagation"], report["no_propagation"]
    assert with_prop["frames"] == clicks_only["frames"] == 4
    # without propagation every frame with an object is clicked; with it, frame 0 is
    assert clicks_only["corrected_frames"] == 4
    assert 1 <= with_prop["corrected_frames"] <= 4
    assert 1 <= with_prop["clicks"] <= clicks_only["clicks"]
    assert report["click_ratio"] == pytest.approx(clicks_only["clicks"] / with_prop["clicks"], abs=1e-3)
    assert with_prop["clicks_per_100_frames"] == pytest.approx(100 * with_prop["clicks"] / 4)
    assert 0.5 < with_prop["J"] <= 1.0
