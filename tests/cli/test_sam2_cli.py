"""``--backend sam2`` on the command line, with a small random SAM 2.1 saved as a checkpoint:
every command that takes ``--backend`` accepts it, clicks and ``eval iseg`` run end to end
(random weights: meaningless masks, real code paths), and a wrong checkpoint is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sam2")

from engine.cli.main import build_parser, main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STILL = ROOT / "sample_media" / "still.jpg"
ISEG = ROOT.parent / "shared" / "data" / "iseg-dev"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from engine.segment.sam2.build import build_random_sam2, save_sam2_checkpoint

    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    save_sam2_checkpoint(build_random_sam2("tiny", version="2.1", image_size=256, seed=0), path)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "a.jpg", "--point", "1,1"],
        ["eval", "iseg", "data"],
        ["eval", "vos", "data"],
        ["eval", "effort", "data"],
        ["prelabel", "a.mp4", "--session", "s.json", "--out", "o"],
        ["replay", "s.json", "a.mp4", "--project", "p"],
        ["session", "export", "p", "--out", "s.json"],
        ["demo"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_every_backend_option_accepts_sam2(argv):
    args = build_parser().parse_args([*argv, "--backend", "sam2"])
    assert args.backend == "sam2"


def test_segment_with_sam2(capsys, checkpoint, monkeypatch):
    monkeypatch.delenv("FRAMEWISE_SAM_CHECKPOINT", raising=False)
    code = main(["segment", str(STILL), "--backend", "sam2", "--checkpoint", str(checkpoint), "--point", "361,240",
                 "--quality", "0.2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["backend"] == "sam2" and result["model"].startswith("sam2.1_hiera_tiny-")


def test_a_sam2_checkpoint_given_to_sam_is_one_line(capsys, checkpoint):
    code = main(["segment", str(STILL), "--backend", "sam", "--checkpoint", str(checkpoint), "--point", "361,240"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"framewise: error: SAM checkpoint {checkpoint}: this is a SAM 2 checkpoint: use --backend sam2\n"


@pytest.mark.skipif(not ISEG.is_dir(), reason=f"evaluation data not present: {ISEG}")
def test_eval_iseg_runs_with_sam2(capsys, checkpoint, tmp_path):
    out_file = tmp_path / "iseg.json"
    code = main(["eval", "iseg", str(ISEG), "--backend", "sam2", "--checkpoint", str(checkpoint), "--limit", "1",
                 "--max-clicks", "2", "--no-baseline", "--quality", "0.2", "--json", "--out", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["segmenter"] == "sam2" and report["images"] == 1 and report["quality"] == 0.2
    assert len(report["per_image"][0]["ious"]) == 2 and report["sec_per_click"] > 0
    assert json.loads(out_file.read_text())["model"] == report["model"]
