"""The str-valued enums of engine.types: label sources, shape types, propagation modes. They
store, print and compare as the plain strings projects, sessions and exports always held."""

from __future__ import annotations

import json
import pickle
import sqlite3
from dataclasses import replace

import pytest

from engine.ontology import Ontology, default_ontology
from engine.project import LABEL_SOURCES, Project
from engine.propagation.step import StepParams
from engine.types import SHAPE_TYPES, Box, Label, LabelClass, LabelSource, MediaInfo, PropagationMode, ShapeType


def test_values_are_the_stored_strings():
    assert [s.value for s in LabelSource] == ["manual", "sam", "propagated", "interpolated", "replayed"]
    assert LABEL_SOURCES == tuple(s.value for s in LabelSource)
    assert [s.value for s in ShapeType] == ["polygon", "bounding_box", "polyline", "point"]
    assert SHAPE_TYPES == ("polygon", "bounding_box")
    assert [m.value for m in PropagationMode] == ["warp", "segment", "agree", "band", "vote", "model"]


@pytest.mark.parametrize("member", [LabelSource.PROPAGATED, ShapeType.BOUNDING_BOX, PropagationMode.VOTE])
def test_a_member_is_its_string_everywhere(member):
    text = member.value
    assert member == text and hash(member) == hash(text) and isinstance(member, str)
    assert str(member) == f"{member}" == format(member, "") == text
    assert json.dumps({"v": member}) == json.dumps({"v": text})
    assert type(member)(text) is member and pickle.loads(pickle.dumps(member)) is member
    with sqlite3.connect(":memory:") as db:
        assert db.execute("SELECT ?, typeof(?)", (member, member)).fetchone() == (text, "text")


def test_labels_and_classes_compare_equal_with_strings_or_members():
    shape = Box(0, 0, 2, 2)
    assert Label(1, 0, "box", shape, source="propagated") == Label(1, 0, "box", shape, source=LabelSource.PROPAGATED)
    assert Label(1, 0, "box", shape).source is LabelSource.SAM
    ontology = Ontology.from_json([{"name": "car", "shape": "polygon"}, {"name": "sign", "shape": "bounding_box"}])
    assert ontology["car"].shape is ShapeType.POLYGON and ontology["sign"].shape is ShapeType.BOUNDING_BOX
    assert ontology.to_json() == Ontology.from_json(json.loads(json.dumps(ontology.to_json()))).to_json()
    assert json.loads(json.dumps(ontology.to_json()))[0]["shape"] == "polygon"
    assert [c.sam_capable for c in default_ontology()] == [True, True, False]
    assert LabelClass("x", ShapeType.POLYLINE) == LabelClass("x", "polyline")  # type: ignore[arg-type]


def test_a_project_reads_sources_back_as_members(tmp_path):
    with Project.create(tmp_path / "p", default_ontology()) as project:
        project.add_media(MediaInfo("clip.mp4", "f" * 64, 4, 4, 1, 1.0))
        project.put(Label(1, 0, "box", Box(0, 0, 2, 2), source="manual", media="clip.mp4"))  # a plain string still works
        project.put(Label(2, 0, "box", Box(0, 0, 2, 2), source=LabelSource.INTERPOLATED, media="clip.mp4"))
    with Project.open(tmp_path / "p") as project:
        sources = [label.source for label in project.labels()]
    assert sources == [LabelSource.MANUAL, LabelSource.INTERPOLATED]
    assert all(type(s) is LabelSource for s in sources)


def test_step_params_take_a_mode_string_or_member():
    assert StepParams(mode="agree").mode is PropagationMode.AGREE  # type: ignore[arg-type]
    assert replace(StepParams(), mode="warp").mode is PropagationMode.WARP  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown propagation mode 'fast'; choose one of warp, segment, agree, band, vote"):
        StepParams(mode="fast")  # type: ignore[arg-type]
