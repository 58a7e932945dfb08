"""Security rules (docs/SECURITY.md): untrusted files never run code or write outside their place.

Path confinement of imports is also tested in tests/formats/test_import_coco.py
(``test_symlinks_out_of_the_folder_are_refused``), tests/formats/test_export_readers.py and
tests/formats/test_import_cvat_video.py (``test_dtds_and_entities_are_refused``).
"""

from __future__ import annotations

import ast
import json
import os
import sqlite3
from pathlib import Path

import pytest

from engine.errors import CheckpointError, ExportError, ProjectError, SessionFormatError

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("engine", "ui", "tools")


# -- checkpoints ------------------------------------------------------------------------------


class _WritesAFile:
    """Unpickling this object writes ``target``: what a malicious checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "owned"))


@pytest.mark.parametrize("wrap", ["bare", "in_state_dict"])
def test_a_pickled_checkpoint_is_refused_and_runs_nothing(tmp_path, wrap):
    torch = pytest.importorskip("torch")
    from engine.segment.sam.checkpoint import read_state_dict

    target = tmp_path / "owned.txt"
    payload = _WritesAFile(target)
    if wrap == "in_state_dict":
        payload = {"image_encoder.pos_embed": torch.zeros(1, 2, 2, 4), "extra": payload}
    path = tmp_path / "sam_vit_b.pth"
    torch.save(payload, path)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="pickled Python object") as info:
        read_state_dict(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not target.exists()
    # the control: the same file unpickled without weights_only does run the payload
    torch.load(path, weights_only=False)
    assert target.read_text() == "owned"


# -- the source tree -----------------------------------------------------------------------

# (file, rule) -> why it is fine. Keep this short: each entry is a reviewed exception.
ALLOWED: dict[tuple[str, str], str] = {
    ("engine/formats/cvat_video.py", "xml-stdlib"): "writes XML (ET.Element/tostring); reading goes through defusedxml",
}
_PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
_XML_PARSE = {"fromstring", "parse", "XML", "XMLParser", "iterparse", "parseString"}


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def violations(path: Path) -> list[tuple[str, int, str]]:
    """(rule, line, code) of every risky construct in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in _PICKLE_MODULES:
                    found.append(("pickle", node.lineno, name))
                if name.startswith(("xml.etree", "xml.dom", "xml.sax", "lxml")):
                    found.append(("xml-stdlib", node.lineno, name))
                if name.split(".")[0] == "subprocess":
                    found.append(("subprocess", node.lineno, name))
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        if name in ("eval", "exec", "compile", "__import__"):
            found.append(("eval", node.lineno, name))
        if name in ("os.system", "os.popen") or name.startswith("os.exec") or name.startswith("os.spawn"):
            found.append(("shell", node.lineno, name))
        if _is_const(_keyword(node, "shell"), True):
            found.append(("shell", node.lineno, f"{name}(shell=True)"))
        if last == "load" and name.split(".")[0] in ("np", "numpy") and not _is_const(_keyword(node, "allow_pickle"), False):
            found.append(("np.load", node.lineno, "np.load without allow_pickle=False"))
        if name == "torch.load" and not _is_const(_keyword(node, "weights_only"), True):
            found.append(("torch.load", node.lineno, "torch.load without weights_only=True"))
        if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            found.append(("yaml", node.lineno, name))
        if last == "enable_load_extension" and not (node.args and _is_const(node.args[0], False)):
            found.append(("sqlite-extension", node.lineno, name))
        if last in _XML_PARSE and name.split(".")[0] in ("ET", "ElementTree", "minidom", "etree"):
            found.append(("xml-stdlib", node.lineno, name))
    return found


def test_no_unsafe_deserialisation_or_shell_in_the_source_tree():
    problems = []
    scanned = 0
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            scanned += 1
            relative = path.relative_to(ROOT).as_posix()
            for rule, line, code in violations(path):
                if (relative, rule) not in ALLOWED:
                    problems.append(f"{relative}:{line}: {rule}: {code}")
    assert scanned > 50
    assert not problems, "\n".join(problems)


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    """The rules are live: each risky line below is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nimport numpy as np\nimport os, subprocess, torch\n"
        "eval('1')\nos.system('ls')\nsubprocess.run('ls', shell=True)\nnp.load('x.npz')\n"
        "np.load('x.npz', allow_pickle=True)\ntorch.load('x')\nimport xml.etree.ElementTree as ET\n"
        "ET.fromstring('<a/>')\nmodel.eval()\nnp.load('y', allow_pickle=False)\ndb.enable_load_extension(True)\n"
    )
    rules = sorted(rule for rule, _, _ in violations(bad))
    assert rules == sorted(["pickle", "subprocess", "eval", "shell", "shell", "np.load", "np.load", "torch.load",
                            "xml-stdlib", "xml-stdlib", "sqlite-extension"])


def test_the_allow_list_has_no_stale_entries():
    for (relative, rule), _ in ALLOWED.items():
        path = ROOT / relative
        assert path.exists(), relative
        assert rule in {r for r, _, _ in violations(path)}, f"{relative}: {rule} no longer needed"


# -- XML -------------------------------------------------------------------------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<annotations><meta><task><name>&d;</name></task></meta></annotations>"""


@pytest.mark.parametrize("text", [
    BOMB,
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><annotations>&e;</annotations>',
    '<?xml version="1.0"?><!DOCTYPE annotations SYSTEM "http://127.0.0.1:9/x.dtd"><annotations/>',
])
def test_xml_entities_and_dtds_are_never_expanded(tmp_path, text):
    from engine.formats.cvat_import import import_cvat_video

    path = tmp_path / "a.xml"
    path.write_text(text)
    with pytest.raises(SessionFormatError, match="refused XML") as info:
        import_cvat_video(path)
    assert str(path) in str(info.value)


# -- paths -----------------------------------------------------------------------------------


def test_coco_single_image_media_through_a_symlinked_folder_is_refused(tmp_path):
    """Images of mixed sizes become one media per image: each path is confined too."""
    from engine.formats.coco_import import import_coco

    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "dataset"
    (root / "ok").mkdir(parents=True)
    os.symlink(outside, root / "ok" / "escape")
    data = {
        "images": [{"id": 1, "file_name": "ok/a.jpg", "width": 4, "height": 4},
                   {"id": 2, "file_name": "ok/escape/b.jpg", "width": 8, "height": 8}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    path = root / "ann.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFormatError, match="resolves outside"):
        import_coco(path)


def test_exports_do_not_follow_a_symlinked_folder_out_of_the_target(tmp_path):
    from engine.formats.writers import write_files

    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "export"
    out.mkdir()
    os.symlink(outside, out / "labels")
    with pytest.raises(ExportError, match="resolves outside"):
        write_files({"labels/a.txt": "x"}, out)
    assert list(outside.iterdir()) == []
    assert write_files({"ok/a.txt": "x"}, out) == [out / "ok" / "a.txt"]


# -- project databases -----------------------------------------------------------------------


def _project(tmp_path) -> Path:
    from engine.project import Project

    Project.create(tmp_path / "p").close()
    return tmp_path / "p" / "project.sqlite"


@pytest.mark.parametrize("sql", [
    "CREATE TRIGGER t AFTER INSERT ON events BEGIN INSERT INTO meta(key, value) VALUES ('x' || random(), 'y'); END",
    "CREATE TRIGGER t AFTER INSERT ON labels BEGIN SELECT load_extension('/tmp/evil'); END",
    "CREATE VIEW v AS SELECT load_extension('/tmp/evil')",
])
def test_a_project_with_triggers_or_views_is_refused_before_any_write(tmp_path, sql):
    from engine.project import Project

    path = _project(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(sql)
    db.close()
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="refusing to open.*never creates") as info:
        Project.open(path.parent)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["project.sqlite"]


def test_schema_functions_are_untrusted_and_extensions_off(tmp_path):
    """Even a side-effecting SQL function in a CHECK or DEFAULT cannot run: trusted_schema
    is off, and load_extension() from SQL is refused."""
    from engine.project import Project

    path = _project(tmp_path)
    with Project.open(path.parent) as project:
        db = project._db
        assert db.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError, match="not authorized"):
            db.execute("SELECT load_extension('/nonexistent/evil')")


def test_attach_from_a_crafted_project_cannot_happen_on_open(tmp_path):
    """SQLite does not allow ATTACH inside a trigger; a trigger that tries is refused as
    a trigger anyway, and no file appears outside the project folder."""
    from engine.project import Project

    path = _project(tmp_path)
    escape = tmp_path / "escaped.db"
    with sqlite3.connect(path) as db:
        with pytest.raises(sqlite3.OperationalError):
            db.execute(f"CREATE TRIGGER t AFTER INSERT ON events BEGIN ATTACH '{escape}' AS e; END")
        db.execute("CREATE TRIGGER t2 AFTER UPDATE ON meta BEGIN DELETE FROM labels; END")
    db.close()
    with pytest.raises(ProjectError, match="trigger 't2'"):
        Project.open(path.parent)
    assert not escape.exists()
