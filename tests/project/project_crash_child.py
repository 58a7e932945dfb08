"""Child process of tests/project/test_project_crash.py: a long scripted session on a project.

    python tests/project/project_crash_child.py PROJECT_FOLDER MEDIA MODE SEED

MODE ``editor`` drives an Editor (classic segmenter) on MEDIA: goto, click, apply, and
some edits, deletes and undos. MODE ``direct`` writes to the project as fast as it can
(puts, deletes, undos without segmentation), so a kill often lands inside a commit.

Protocol on stdout, one line per step, flushed:
    B <step>                          before the step starts
    D <step> <kind> <deltas JSON>     after it returned; deltas: [[media, frame, object, shape or null], ...]
kind is the change's kind (apply, edit, delete, undo) or "none" when nothing changed.
The parent kills the process with SIGKILL at some point and checks the project.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from engine.errors import EditorStateError  # noqa: E402
from engine.editing.events import Event  # noqa: E402
from engine.project import Project  # noqa: E402
from engine.types import Label, MediaInfo, Polygon, shape_to_json  # noqa: E402

STEPS = 100_000  # more than any test waits for: the parent always kills


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def deltas_of(changeset, undone: bool) -> list:
    """The label rows ``changeset`` left behind (undone: the rows it restored)."""
    out = []
    for change in changeset.changes:
        row = change.before if undone else change.after
        other = change.after if undone else change.before
        label = row if isinstance(row, Label) else other if isinstance(other, Label) else None
        if label is None:
            continue
        shape = shape_to_json(row.shape, decimals=None) if isinstance(row, Label) else None
        out.append([label.media, label.frame_index, label.object_id, shape])
    return out


def label_delta(label: Label, deleted: bool = False) -> list:
    return [[label.media, label.frame_index, label.object_id, None if deleted else shape_to_json(label.shape, decimals=None)]]


def run_editor(project: Project, media: str, rng: random.Random) -> None:
    from engine.editing.editor import Editor
    from engine.segment.classic.segmenter import ClassicSegmenter

    editor = Editor(ClassicSegmenter(), project.ontology, store=project, quality=0.2)
    editor.open(media)
    editor.toggle_sam()
    width, height = editor.frame_size
    frames = [0, min(8, len(editor.source) - 1)]  # few frames: embeddings stay cached
    for step in range(STEPS):
        emit(f"B {step}")
        labels = editor.labels(editor.frame_index)
        roll = rng.random()
        if roll < 0.1:
            editor.goto(rng.choice(frames))
            emit(f"D {step} none []")
            continue
        if roll < 0.2 and labels:
            label = rng.choice(labels)
            editor.delete_label(label.object_id)
            emit(f"D {step} delete {json.dumps(label_delta(label, deleted=True))}")
            continue
        if roll < 0.28:
            changeset = editor.undo()
            kind, deltas = ("none", []) if changeset is None else ("undo", deltas_of(changeset, undone=True))
            emit(f"D {step} {kind} {json.dumps(deltas)}")
            continue
        if roll < 0.33 and labels:
            label = rng.choice(labels)
            if isinstance(label.shape, Polygon):
                shifted = Polygon(tuple(tuple(ring + rng.uniform(-2, 2) for ring in part) for part in label.shape.parts))
                edited = editor.edit_label(label.object_id, shifted)
                emit(f"D {step} edit {json.dumps(label_delta(edited))}")
                continue
        editor.set_class(rng.choice(["ball", "frame"]))
        editor.click(rng.uniform(0, width - 1), rng.uniform(0, height - 1))
        try:
            label = editor.apply()
        except EditorStateError:  # an empty selection: nothing stored
            editor.reset()
            emit(f"D {step} none []")
            continue
        emit(f"D {step} apply {json.dumps(label_delta(label))}")


def run_direct(project: Project, media: str, rng: random.Random) -> None:
    project.add_media(MediaInfo(media, "0" * 64, 640, 360, 4, 24.0))
    for step in range(STEPS):
        emit(f"B {step}")
        frame_index, object_id = rng.randrange(4), rng.randrange(1, 40)
        roll = rng.random()
        kind, deltas = "none", []
        with project.transaction():  # the change and its event commit together
            if roll < 0.15:
                changeset = project.undo()
                if changeset is not None:
                    kind, deltas = "undo", deltas_of(changeset, undone=True)
            elif roll < 0.3:
                existing = project.get(media, frame_index, object_id)
                if existing is not None and project.delete(media, frame_index, object_id):
                    kind, deltas = "delete", label_delta(existing, deleted=True)
            else:
                vertices = rng.randrange(3, 400)  # up to a few pages of JSON per label
                ring = np.array([[rng.uniform(0, 640), rng.uniform(0, 360)] for _ in range(vertices)])
                label = Label(object_id, frame_index, "ball", Polygon(((ring,),)), score=rng.random(), media=media)
                kind, deltas = project.put(label).kind, label_delta(label)
            if kind != "none":
                project.record_event(Event(kind, frame_index, {"object_id": object_id}), media)
        emit(f"D {step} {kind} {json.dumps(deltas)}")


def main() -> None:
    folder, media, mode, seed = sys.argv[1:5]
    rng = random.Random(int(seed))
    project = Project.open(folder)
    (run_editor if mode == "editor" else run_direct)(project, media, rng)


if __name__ == "__main__":
    main()
