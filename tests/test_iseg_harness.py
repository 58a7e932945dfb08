"""`framewise eval iseg` on real images: the JSON contract and classic vs the GrabCut baseline."""

import json
from pathlib import Path

import pytest

from engine.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "iseg-dev"

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"evaluation data {DATA} absent (../shared/data is not in a fresh clone)"
)


def test_eval_iseg_reports_noc_for_classic_and_grabcut_in_one_run(tmp_path, capsys):
    out = tmp_path / "iseg.json"
    code = main(["eval", "iseg", str(DATA), "--limit", "2", "--max-clicks", "5", "--json", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    for result in (printed, saved):
        assert {"noc85", "noc90", "sec_per_click", "images", "baseline_grabcut"} <= set(result)
        assert result["images"] == 2 and result["baseline_grabcut"]["images"] == 2
        for row in (result, result["baseline_grabcut"]):
            assert 1 <= row["noc85"] <= row["noc90"] <= 5
    classic, grabcut = printed, printed["baseline_grabcut"]
    # Per click, the classic backend answers far faster than GrabCut and is no worse.
    assert classic["sec_per_click"] * 10 < grabcut["sec_per_click"]
    assert classic["noc90"] <= grabcut["noc90"]
    best = [max(image["ious"]) for image in saved["per_image"]]
    assert min(best) > 0.5
