"""Crash safety: SIGKILL a labelling process at some moment; nothing it applied is lost.

The child (tests/project/project_crash_child.py) prints each change right after the call that
made it returned. After the kill the project must hold exactly those changes, plus at
most the one change in flight, which must have been committed together with its event
(or not at all), and the undo history must still lead back to an empty project.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.ontology import Ontology
from engine.project import PROJECT_FILE, Project
from engine.types import LabelClass, shape_to_json

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "project" / "project_crash_child.py"
VIDEO = ROOT / "sample_media" / "video.mp4"
MUTATIONS = {"apply", "edit", "delete", "undo"}


def ontology() -> Ontology:
    return Ontology(
        [
            LabelClass("ball", "polygon", "#ff7f0e", "1"),
            LabelClass("frame", "polygon", "#1f77b4", "2"),
            LabelClass("leaf", "bounding_box", "#2ca02c", "3"),
        ]
    )


def run_and_kill(folder: Path, mode: str, seed: int, kill_after: int) -> bytes:
    """Start the child, SIGKILL it a random few ms after its ``kill_after``-th change; its stdout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with open(folder.parent / f"{folder.name}.stderr", "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(folder), str(VIDEO), mode, str(seed)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            env=env,
        )
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    try:
        output, done = b"", 0
        while done < kill_after:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the child stopped early:\n{(folder.parent / f'{folder.name}.stderr').read_text()}")
            output += line
            done += line.startswith(b"D ")
        time.sleep(random.Random(seed).uniform(0, 0.02))  # land anywhere in the next step
        os.kill(child.pid, signal.SIGKILL)
        output += child.stdout.read()  # whatever it printed before dying
        assert child.wait() == -signal.SIGKILL
    finally:
        watchdog.cancel()
        child.stdout.close()
    return output


def expected_state(output: bytes) -> tuple[dict, int, bool]:
    """Labels after every printed change {(media, frame, object): shape JSON}, the number of
    changes, and whether a step had started without being reported done."""
    state: dict = {}
    changes, in_flight = 0, False
    for line in output.split(b"\n")[:-1]:  # a last line without its newline was cut by the kill
        text = line.decode()
        if text.startswith("B "):
            in_flight = True
            continue
        _, _, kind, deltas = text.split(" ", 3)
        for media, frame_index, object_id, shape in json.loads(deltas):
            if shape is None:
                state.pop((media, frame_index, object_id), None)
            else:
                state[(media, frame_index, object_id)] = shape
        changes += kind != "none"
        in_flight = False
    return state, changes, in_flight


def project_state(project: Project) -> dict:
    return {(l.media, l.frame_index, l.object_id): shape_to_json(l.shape, decimals=None) for l in project.labels()}


def check_after_crash(folder: Path, output: bytes) -> int:
    expected, changes, in_flight = expected_state(output)
    raw = sqlite3.connect(folder / PROJECT_FILE)  # recovers the write-ahead log
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with Project.open(folder) as project:
        assert project.integrity_check() == []
        actual = project_state(project)
        differing = {key for key in expected.keys() | actual.keys() if expected.get(key) != actual.get(key)}
        # Every printed change is there; only the step in flight may add one more ...
        assert len(differing) <= (1 if in_flight else 0), sorted(differing)[:3]
        # ... and then its event was committed with it (never one without the other).
        events = sum(event.kind in MUTATIONS for event in project.events())
        assert events == changes + len(differing)
        # The undo history is whole: undoing everything empties the project, redo restores it.
        undone = 0
        while project.undo() is not None:
            undone += 1
        assert project.labels() == [] and project.objects() == []
        for _ in range(undone):  # (undos made before the kill stay redoable after these)
            assert project.redo() is not None
        assert project_state(project) == actual
    return len(expected)


@pytest.mark.parametrize("kill_after", [4, 25, 60])
def test_killed_editor_session_loses_no_applied_label(tmp_path, kill_after):
    folder = tmp_path / "project"
    Project.create(folder, ontology()).close()
    output = run_and_kill(folder, "editor", seed=kill_after, kill_after=kill_after)
    stored = check_after_crash(folder, output)
    assert stored > 0 or kill_after < 10  # the session did label something before the kill


@pytest.mark.parametrize("kill_after", [150, 700])
def test_killed_writer_mid_commit_loses_nothing(tmp_path, kill_after):
    """Writes without segmentation between them: the kill most likely lands inside a commit."""
    folder = tmp_path / "project"
    Project.create(folder, ontology()).close()
    output = run_and_kill(folder, "direct", seed=kill_after, kill_after=kill_after)
    assert check_after_crash(folder, output) > 5
