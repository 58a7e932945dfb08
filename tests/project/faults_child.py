"""Child process of tests/project/test_faults.py: a scripted annotation + propagation session.

    python tests/project/faults_child.py PROJECT_FOLDER FRAMES_FOLDER SEED CACHE_DIR

Drives an Editor (classic segmenter, quality 0.2) on a short image-folder clip labelling
into the project: clicks and applies, permanent drawing (``set_permanent(True)``, then
``apply()`` propagates the new object to the end of the clip), deletes and undos.

Protocol on stdout, one line per step, flushed:
    R                                   ready (media open), before the first step
    B <step> <kind> <object id or 0>    before a step that may change labels
    S <step> <labels JSON>              after it returned: every label of the media,
                                        [[frame, object, shape JSON], ...]
The parent SIGKILLs the process at a random moment and checks the project.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.errors import EditorStateError  # noqa: E402
from engine.project import Project  # noqa: E402
from engine.types import shape_to_json  # noqa: E402

STEPS = 100_000  # more than any run reaches: the parent always kills


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def snapshot(editor) -> str:
    return json.dumps([[l.frame_index, l.object_id, shape_to_json(l.shape, decimals=None)] for l in editor.labels()])


def main() -> None:
    from engine.editing.editor import Editor
    from engine.segment.classic.segmenter import ClassicSegmenter

    folder, frames, seed, cache = sys.argv[1:5]
    rng = random.Random(int(seed))
    project = Project.open(folder)
    editor = Editor(ClassicSegmenter(), project.ontology, store=project, quality=0.2,
                    frame_server_options={"disk_cache_dir": cache})
    editor.open(frames)
    editor.toggle_sam()
    width, height = editor.frame_size
    count = len(editor.source)
    emit("R")
    for step in range(STEPS):
        labels = editor.labels(editor.frame_index)
        roll = rng.random()
        if roll < 0.15:
            editor.goto(rng.randrange(count))
            continue
        if roll < 0.25:
            editor.set_permanent(not editor.permanent)
            continue
        if roll < 0.35 and labels:
            label = rng.choice(labels)
            emit(f"B {step} delete {label.object_id}")
            editor.delete_label(label.object_id)
        elif roll < 0.45:
            emit(f"B {step} undo 0")
            editor.undo()
        else:
            editor.set_class(rng.choice(["ball", "frame", "leaf"]))
            editor.click(rng.uniform(0, width - 1), rng.uniform(0, height - 1))
            if rng.random() < 0.3:
                editor.click(rng.uniform(0, width - 1), rng.uniform(0, height - 1), positive=False)
            emit(f"B {step} apply 0")
            try:
                editor.apply()  # with permanent drawing on: propagated to the end of the clip
            except EditorStateError:  # an empty selection: nothing stored
                editor.reset()
        emit(f"S {step} {snapshot(editor)}")


if __name__ == "__main__":
    main()
