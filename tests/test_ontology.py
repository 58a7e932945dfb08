import json

import pytest

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
