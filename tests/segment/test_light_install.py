"""The base install (no `sam` or `ray` extra) works: torch, torchvision, segment_anything
and Ray are made unimportable in a fresh interpreter, which then runs the classic path end
to end (help, a click and an apply through the Editor into a project, a COCO export and
import) and gets one line saying how to install the extra when it asks for SAM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A meta-path finder ahead of all others: any import of a blocked package fails as it would
# where the package is not installed.
BLOCK = """
import sys

BLOCKED = ("torch", "torchvision", "segment_anything", "sam2", "ray")


class BlockExtras:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: light install)", name=name)
        return None


sys.meta_path.insert(0, BlockExtras())
"""

SCRIPT = BLOCK + """
import contextlib, io, json
from pathlib import Path

from engine.cli.main import main
from engine.editing.editor import Editor
from engine.project import Project
from engine.segment import make_segmenter

out = Path(sys.argv[1])
report = {}

help_text = io.StringIO()
with contextlib.redirect_stdout(help_text):
    try:
        main(["--help"])
    except SystemExit as exit:
        report["help_exit"] = exit.code
report["help_has_segment"] = "segment" in help_text.getvalue()

project = Project.create(out / "project")
with Editor(make_segmenter(), project.ontology, store=project) as editor:
    editor.open("sample_media/still.jpg")
    editor.toggle_sam()
    editor.click(361, 240)
    label = editor.apply()
    report["segmenter"] = type(editor.segmenter).__name__
    report["shape"] = type(label.shape).__name__
project.close()

with contextlib.redirect_stdout(io.StringIO()):
    report["export_exit"] = main(["export", str(out / "project"), "--format", "coco", "--out", str(out / "coco")])
    coco = json.loads((out / "coco" / "annotations" / "instances_default.json").read_text())
    report["coco_annotations"] = len(coco["annotations"])
    report["import_exit"] = main(["import", str(out / "imported"), "--format", "coco", str(out / "coco" / "annotations" / "instances_default.json")])

report["heavy"] = sorted(m for m in BLOCKED if m in sys.modules)
print(json.dumps(report))
"""


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("FRAMEWISE_SAM_CHECKPOINT", "FRAMEWISE_SAM2_CHECKPOINT")}
    environ |= env or {}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, env=environ)


def test_classic_path_needs_no_torch(tmp_path):
    result = _run(["-c", SCRIPT, str(tmp_path)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "help_exit": 0,
        "help_has_segment": True,
        "segmenter": "ClassicSegmenter",
        "shape": "Polygon",
        "export_exit": 0,
        "coco_annotations": 1,
        "import_exit": 0,
        "heavy": [],
    }


def test_sam_without_the_extra_is_one_line(tmp_path):
    checkpoint = tmp_path / "x.pth"
    checkpoint.write_bytes(b"not read: the extra is checked first")
    code = BLOCK + "from engine.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    ways = [
        (["--backend", "sam", "--checkpoint", str(checkpoint)], {}),
        (["--checkpoint", str(checkpoint)], {}),
        ([], {"FRAMEWISE_SAM_CHECKPOINT": str(checkpoint)}),
    ]
    for extra, env in ways:
        result = _run(["-c", code, "segment", "sample_media/still.jpg", "--point", "361,240", *extra], env)
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert result.stderr == (
            "framewise: error: the sam backend needs PyTorch and segment-anything: pip install 'framewise[sam]'\n"
        )


def test_sam2_without_the_extra_is_one_line(tmp_path):
    checkpoint = tmp_path / "x.pt"
    checkpoint.write_bytes(b"not read: the extra is checked first")
    code = BLOCK + "from engine.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    ways = [
        (["--backend", "sam2", "--checkpoint", str(checkpoint)], {}),
        ([], {"FRAMEWISE_SAM2_CHECKPOINT": str(checkpoint)}),
    ]
    for extra, env in ways:
        result = _run(["-c", code, "segment", "sample_media/still.jpg", "--point", "361,240", *extra], env)
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            "framewise: error: the sam2 backend needs PyTorch and SAM 2: pip install 'framewise[sam2]' (see the README)\n"
        )
