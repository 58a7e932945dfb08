import json

import pytest

from engine.cli.main import main
from engine.errors import OntologyError
from engine.ontology import Ontology, default_ontology
from engine.types import LabelClass


def test_default_ontology_has_sam_and_non_sam_classes():
    ontology = default_ontology()
    assert ontology["object"].sam_capable and ontology["box"].sam_capable
    assert not ontology["keypoint"].sam_capable


def test_load_from_file_assigns_colours_and_hotkeys(tmp_path):
    path = tmp_path / "ontology.json"
    path.write_text(json.dumps({"classes": [{"name": "car", "shape": "polygon"}, {"name": "sign", "shape": "bounding_box"}]}))
    ontology = Ontology.load(path)
    assert ontology.names == ["car", "sign"]
    assert ontology["sign"].hotkey == "2"
    assert ontology["car"].colour.startswith("#")
    assert Ontology.from_json(ontology.to_json()).names == ontology.names


@pytest.mark.parametrize(
    "classes, message",
    [
        ([{"name": "a", "shape": "polygon"}, {"name": "a", "shape": "polygon"}], "duplicate class name 'a'"),
        ([{"name": "a", "shape": "ellipse"}], "unknown shape 'ellipse'"),
        ([{"name": "a", "shape": "polygon", "colour": "red"}], "use #rrggbb"),
        ([{"name": "a"}], "needs string fields"),
        ([{"name": "a", "shape": "polygon", "size": 3}], "unknown fields ['size']"),
        ([], "at least one class"),
        ({"nope": 1}, "expected a list"),
    ],
)
def test_malformed_ontologies_are_refused_with_the_reason(classes, message):
    with pytest.raises(OntologyError) as info:
        Ontology.from_json(classes)
    assert message in str(info.value)


def test_unreadable_file_names_the_path(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(OntologyError, match="bad.json"):
        Ontology.load(path)
    with pytest.raises(OntologyError, match="no such ontology file"):
        Ontology.load(tmp_path / "missing.json")


def test_duplicate_hotkeys_are_refused():
    with pytest.raises(OntologyError, match="hotkey '1'"):
        Ontology([LabelClass("a", "polygon", hotkey="1"), LabelClass("b", "polygon", hotkey="1")])


@pytest.mark.parametrize("field", ["name", "hotkey"])
def test_lone_surrogates_are_refused_before_they_reach_the_project(tmp_path, field):
    """A JSON "\\ud800" escape made the project's first write raise UnicodeEncodeError."""
    entry = {"name": "car", "shape": "polygon", field: "x\ud800"}
    with pytest.raises(OntologyError, match="lone surrogate"):
        Ontology.from_json([entry])
    path = tmp_path / "ontology.json"
    path.write_text(json.dumps([entry]))  # ASCII, the surrogate as an escape
    with pytest.raises(OntologyError) as info:
        Ontology.load(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_an_ontology_file_with_a_lone_surrogate_is_one_line_through_the_cli(capsys, tmp_path):
    ontology = tmp_path / "ontology.json"
    ontology.write_text(json.dumps([{"name": "\udc00", "shape": "bounding_box"}]))
    coco = tmp_path / "ann.json"
    coco.write_text(json.dumps({"images": [], "categories": [{"id": 1, "name": "car"}], "annotations": []}))
    code = main(["import", str(tmp_path / "project"), "--format", "coco", str(coco), "--ontology", str(ontology)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.splitlines() == [f"framewise: error: {ontology}: class name '\\udc00' "
                                                           "holds '\\udc00', a lone surrogate that is not a "
                                                           "character (a broken \\u escape); fix the text"]
    assert not (tmp_path / "project").exists()


def test_integers_of_thousands_of_digits_are_a_readable_error(tmp_path):
    """json.loads raises a plain ValueError (not JSONDecodeError) past 4300 digits."""
    path = tmp_path / "ontology.json"
    path.write_text('[{"name": "a", "shape": "polygon", "hotkey": ' + "1" * 5000 + "}]")
    with pytest.raises(OntologyError, match="not a readable JSON ontology"):
        Ontology.load(path)

