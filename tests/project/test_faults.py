"""Injected faults: SIGKILL mid-session (with propagation), a full disk, a read-only project,
a failing segmenter and a stalled decoder. After each: the project is sound, every label
applied before the fault is there with its exact geometry, and the app keeps working.

``FRAMEWISE_FAULTS=long`` kills many more children (the CI sample is 12).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.editing.editor import Editor
from engine.errors import FrameTimeoutError, ProjectError
from engine.frames.server import FrameServer
from engine.media.open import open_media
from engine.ontology import Ontology
from engine.project import PROJECT_FILE, Project
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import LabelClass, shape_to_json

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "project" / "faults_child.py"
FRAMES = ROOT / "sample_media" / "frames"
MANIFEST = json.loads((ROOT / "sample_media" / "manifest.json").read_text())
LONG = os.environ.get("FRAMEWISE_FAULTS") == "long"
KILL_RUNS = 60 if LONG else 12
PARALLEL = 4


def ontology() -> Ontology:
    return Ontology([
        LabelClass("ball", "polygon", "#ff7f0e", "1"),
        LabelClass("frame", "polygon", "#1f77b4", "2"),
        LabelClass("leaf", "bounding_box", "#2ca02c", "3"),
    ])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """8 frames of the sample clip in a folder of their own."""
    folder = tmp_path_factory.mktemp("clip")
    for frame_index in range(8):
        shutil.copy(FRAMES / f"frame_{frame_index}.jpg", folder / f"frame_{frame_index}.jpg")
    return folder


def state_of(project: Project) -> dict:
    return {(l.frame_index, l.object_id): shape_to_json(l.shape, decimals=None) for l in project.labels()}


def same(a, b) -> bool:
    """Labels equal in key, class and exact geometry (Label holds numpy arrays: no ``==``)."""
    def row(label):
        return None if label is None else (label.media, label.frame_index, label.object_id, label.class_name,
                                           shape_to_json(label.shape, decimals=None))
    return row(a) == row(b)


def ball_click() -> tuple[float, float]:
    """The ball's first click in the sample clip (frame 0)."""
    for item in MANIFEST["objects"]:
        if item.get("video", {}).get("click") is not None:
            return tuple(float(v) for v in item["video"]["click"])
    raise AssertionError("the manifest has no video click")


def labelled(folder: Path, clip: Path, cache: Path | None = None) -> tuple[Project, Editor]:
    """A project with a labelling Editor on ``clip``."""
    project = Project.open(folder) if (folder / PROJECT_FILE).exists() else Project.create(folder, ontology())
    options = {"disk_cache_dir": cache} if cache else {}
    editor = Editor(ClassicSegmenter(), project.ontology, store=project, quality=0.2, frame_server_options=options)
    editor.open(clip)
    editor.toggle_sam()
    return project, editor


def usable(folder: Path, clip: Path, tmp: Path) -> None:
    """A further click + apply, then ``framewise export`` of the project."""
    from engine.cli.main import main

    project, editor = labelled(folder, clip)
    with project, editor:
        before = len(project.labels())
        editor.set_class("ball")
        editor.click(*ball_click())
        label = editor.apply()
        assert same(project.get(label.media, label.frame_index, label.object_id), label)
        assert len(project.labels()) == before + 1
    out = tmp / "export"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    exported = json.loads((out / "annotations" / "instances_default.json").read_text())
    assert len(exported["annotations"]) == before + 1


# -- SIGKILL during annotation + propagation -------------------------------------------------
def kill_child(folder: Path, clip: Path, cache: Path, seed: int, outputs: dict) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    errors = folder.parent / f"{folder.name}.stderr"
    with open(errors, "wb") as stderr:
        child = subprocess.Popen([sys.executable, str(CHILD), str(folder), str(clip), str(seed), str(cache)],
                                 stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT, env=env)
    watchdog = threading.Timer(90, child.kill)
    watchdog.start()
    try:
        ready = child.stdout.readline()
        if ready != b"R\n":
            outputs[seed] = AssertionError(f"the child did not start:\n{errors.read_text()}")
            return
        time.sleep(random.Random(seed).uniform(0.3, 5.0))
        child.kill()
        output = child.stdout.read()
        outputs[seed] = (child.wait(), output)
    finally:
        watchdog.cancel()
        child.stdout.close()


def expected_after(output: bytes) -> tuple[dict, tuple[str, int] | None, int]:
    """The labels of the last finished step {(frame, object): shape}, the step in flight
    (kind, object id) or None, and the number of finished steps that changed labels."""
    expected: dict = {}
    in_flight = None
    finished = 0
    for line in output.split(b"\n")[:-1]:  # a last line without its newline was cut by the kill
        kind, _, rest = line.decode().partition(" ")
        if kind == "B":
            _, what, object_id = rest.split(" ")
            in_flight = (what, int(object_id))
        elif kind == "S":
            _, labels = rest.split(" ", 1)
            expected = {(f, o): shape for f, o, shape in json.loads(labels)}
            finished += in_flight is not None
            in_flight = None
    return expected, in_flight, finished


def lost_labels(folder: Path, output: bytes) -> tuple[int, int]:
    """Check the killed child's project; (labels expected, labels lost or changed)."""
    expected, in_flight, _ = expected_after(output)
    raw = sqlite3.connect(folder / PROJECT_FILE)  # recovers the write-ahead log
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with Project.open(folder) as project:
        assert project.integrity_check() == []
        actual = state_of(project)
        if in_flight is not None and in_flight[0] == "undo" and actual != expected:
            assert project.redo() is not None  # the undo in flight was committed whole ...
            actual = state_of(project)  # ... so redoing it gives back the reported state
        lost = sum(actual.get(key) != shape for key, shape in expected.items())
        extra = set(actual) - set(expected)
        if in_flight is not None and in_flight[0] == "delete":
            key = [k for k in expected if k[1] == in_flight[1] and k not in actual]
            lost -= len(key)  # the delete in flight went through
            assert len(key) <= 1
        if extra:  # only the apply in flight (and its propagation) may add labels, of one new object
            assert in_flight is not None and in_flight[0] == "apply", sorted(extra)[:3]
            new_objects = {o for _, o in extra}
            assert len(new_objects) == 1 and not new_objects & {o for _, o in expected}
    return len(expected), lost


def test_sigkill_during_annotation_and_propagation_loses_nothing(tmp_path, clip):
    cache = tmp_path / "embeddings"
    seeds = list(range(KILL_RUNS))
    outputs: dict = {}
    folders = {seed: tmp_path / f"run{seed}" / "project" for seed in seeds}
    for seed in seeds:
        Project.create(folders[seed], ontology()).close()
    for batch in range(0, len(seeds), PARALLEL):
        threads = [threading.Thread(target=kill_child, args=(folders[s], clip, cache, s, outputs))
                   for s in seeds[batch: batch + PARALLEL]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    checked, lost, labels, propagated, killed_in_step = 0, 0, 0, 0, 0
    for seed in seeds:
        result = outputs[seed]
        if isinstance(result, Exception):
            raise result
        code, output = result
        assert code == -signal.SIGKILL
        expected, in_flight, _ = expected_after(output)
        count, missing = lost_labels(folders[seed], output)
        checked, lost, labels = checked + 1, lost + missing, labels + count
        killed_in_step += in_flight is not None
        with Project.open(folders[seed]) as project:
            propagated += sum(l.source == "propagated" for l in project.labels())
    print(f"\nSIGKILL runs {checked}, labels checked {labels} ({propagated} propagated), "
          f"killed inside a change {killed_in_step}, lost {lost}")
    assert lost == 0
    assert labels > 0 and propagated > 0  # the runs did label and propagate before the kills
    usable(folders[seeds[-1]], clip, tmp_path)


# -- disk full, read-only ------------------------------------------------------------------
def fill_until_error(project: Project, editor: Editor, limit: int = 200) -> ProjectError:
    """Apply labels until a save fails; the error."""
    for attempt in range(limit):
        try:
            editor.click(*ball_click())  # (its event is saved too)
            editor.apply()
        except ProjectError as exc:
            return exc
        editor.goto((editor.frame_index + 1) % 8)
    raise AssertionError(f"{limit} applies and no save failed")


def check_failed_save(project: Project, editor: Editor, before: dict, events: int, log: int) -> None:
    """Nothing of the failed apply is stored; everything before is; the selection is kept."""
    assert state_of(project) == before
    assert len(project.events()) == events and len(editor.log) == log
    assert editor.selection.proposal is not None  # the user can apply again
    assert project.integrity_check() == []


def test_disk_full_during_save_keeps_everything(tmp_path, clip):
    project, editor = labelled(tmp_path / "project", clip)
    with project, editor:
        editor.click(*ball_click())
        first = editor.apply()
        editor.goto(1)
        pages = project._db.execute("PRAGMA page_count").fetchone()[0]
        project._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        before, events = state_of(project), len(project.events())
        error = fill_until_error(project, editor)
        assert "disk is full" in str(error) and "\n" not in str(error)
        before, events, log = state_of(project), len(project.events()), len(editor.log)
        check_failed_save(project, editor, before, events, log)
        assert same(project.get(first.media, 0, first.object_id), first)
        project._db.execute("PRAGMA max_page_count = 1073741823")  # space freed
        label = editor.apply()
        assert same(project.get(label.media, label.frame_index, label.object_id), label)
    with Project.open(tmp_path / "project") as reopened:
        assert reopened.integrity_check() == []
        assert state_of(reopened) == before | {(label.frame_index, label.object_id): shape_to_json(label.shape, decimals=None)}
    usable(tmp_path / "project", clip, tmp_path)


def _mount_tmpfs(folder: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def test_disk_full_on_a_real_small_filesystem(tmp_path, clip):
    """As root where mounting works: the project on a 2 MiB tmpfs filled up by another file."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk):
        pytest.skip("needs root and mount (tmpfs); the max_page_count test covers the portable case")
    try:
        project, editor = labelled(disk / "project", clip)
        with project, editor:
            editor.click(*ball_click())
            first = editor.apply()
            editor.goto(1)
            filler = disk / "filler"
            with open(filler, "wb", buffering=0) as handle:  # take every free byte
                try:
                    while True:
                        handle.write(b"\0" * 4096)
                except OSError:
                    pass
            before, events = state_of(project), len(project.events())
            log = len(editor.log)
            error = fill_until_error(project, editor)
            assert "disk is full" in str(error) and "\n" not in str(error), str(error)
            # labels saved until the disk filled up are all there, the failed call left nothing
            assert project.integrity_check() == []
            saved = state_of(project)
            assert all(saved[key] == shape for key, shape in before.items())
            assert len(project.events()) - events == len(editor.log) - log  # log and project agree
            assert same(project.get(first.media, 0, first.object_id), first)
            filler.unlink()
            editor.click(*ball_click())
            label = editor.apply()
            assert same(project.get(label.media, label.frame_index, label.object_id), label)
        with Project.open(disk / "project") as reopened:
            assert reopened.integrity_check() == []
            assert (label.frame_index, label.object_id) in state_of(reopened)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_read_only_project_during_save_loses_nothing(tmp_path, clip):
    project, editor = labelled(tmp_path / "project", clip)
    with project, editor:
        editor.click(*ball_click())
        first = editor.apply()
        editor.click(*ball_click())
        before, events, log = state_of(project), len(project.events()), len(editor.log)
        project._db.execute("PRAGMA query_only = ON")  # the file became read-only under us
        with pytest.raises(ProjectError, match="read-only") as caught:
            editor.apply()
        assert "\n" not in str(caught.value)
        check_failed_save(project, editor, before, events, log)
        with pytest.raises(ProjectError, match="read-only"):  # a click's event cannot be saved either
            editor.click(*ball_click())
        assert len(editor.log) == log and len(editor.selection.points) == 1  # the click left no trace
        if os.geteuid() != 0:  # permission bits bind only non-root users
            project._db.execute("PRAGMA query_only = OFF")
            os.chmod(project.path, 0o444)
            try:
                with pytest.raises(ProjectError):
                    editor.apply()
            finally:
                os.chmod(project.path, 0o644)
        project._db.execute("PRAGMA query_only = OFF")
        second = editor.apply()
    with Project.open(tmp_path / "project") as reopened:
        assert same(reopened.get(first.media, 0, first.object_id), first)
        assert same(reopened.get(second.media, 0, second.object_id), second)


def test_failing_event_write_is_not_logged(tmp_path, clip):
    """A save failing at its event (after the label row) rolls the label back and keeps it out of the log."""
    project, editor = labelled(tmp_path / "project", clip)
    with project, editor:
        editor.click(*ball_click())
        before, log = state_of(project), list(editor.log.kinds())
        original = project.record_event

        def failing(event, media=None):
            if event.kind == "apply":
                raise ProjectError(f"{project.path}: the disk is full (injected); nothing was changed")
            return original(event, media)

        project.record_event = failing
        with pytest.raises(ProjectError, match="disk is full"):
            editor.apply()
        assert state_of(project) == before and editor.log.kinds() == log
        project.record_event = original
        label = editor.apply()
        assert editor.log.kinds() == log + ["apply"]
        assert state_of(project) == before | {(0, label.object_id): shape_to_json(label.shape, decimals=None)}


# -- a failing segmenter, a stalled decoder --------------------------------------------------
class FailingSegmenter(ClassicSegmenter):
    """The classic segmenter, except that ``prepare`` raises on frames whose first pixel's
    red value is in ``bad_pixels`` (``prepare`` sees the frame, not its index)."""

    def __init__(self, bad_pixels) -> None:
        super().__init__()
        self.bad_pixels = set(bad_pixels)

    def prepare(self, frame, quality):
        if int(frame[0, 0, 0]) in self.bad_pixels:
            raise RuntimeError("out of GPU memory (injected)")
        return super().prepare(frame, quality)


def test_segmenter_failing_on_some_frames(clip):
    source = open_media(clip)
    firsts = {int(source.frame(i)[0, 0, 0]) for i in range(8)}
    assert len(firsts) > 1
    segmenter = FailingSegmenter({int(source.frame(3)[0, 0, 0])})
    bad = [i for i in range(8) if int(source.frame(i)[0, 0, 0]) in segmenter.bad_pixels]
    good = [i for i in range(8) if i not in bad]
    hooked: list = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: hooked.append(args)
    try:
        with Editor(segmenter, ontology()) as editor:
            editor.open(source)
            editor.toggle_sam()
            editor.goto(bad[0])
            log = len(editor.log)
            with pytest.raises(RuntimeError, match="out of GPU memory"):
                editor.click(*ball_click())
            assert len(editor.log) == log and editor.selection.empty  # not recorded, nothing selected
            with pytest.raises(RuntimeError, match="out of GPU memory"):  # tried again, not cached
                editor.server.get_embedding(bad[0], timeout=30)
            server = editor.server
            assert server._worker.is_alive() and server.cache_state().failures >= 2
            assert server.get_frame(bad[0]).shape == (360, 640, 3)  # its frame still comes
            editor.goto(good[-1])
            editor.click(*ball_click())
            assert editor.apply().frame_index == good[-1]
            assert server.get_embedding(good[0], timeout=30).backend == "classic"
            assert server._worker.is_alive()
    finally:
        threading.excepthook = previous_hook
        source.close()
    assert hooked == []  # no thread died


class StallingSource:
    """A FrameSource wrapper whose ``frame(stall)`` blocks until ``release`` is set."""

    def __init__(self, source, stall: int) -> None:
        self._source, self.stall = source, stall
        self.release, self.entered = threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self._source, name)

    def __len__(self) -> int:
        return len(self._source)

    def frame(self, frame_index: int) -> np.ndarray:
        if frame_index == self.stall:
            self.entered.set()
            assert self.release.wait(60)
        return self._source.frame(frame_index)


def test_stalled_decoder_gives_timeouts_not_hangs(clip):
    source = StallingSource(open_media(clip), stall=5)
    server = FrameServer(source, ClassicSegmenter(), quality=0.2, window=(0, 0))
    try:
        server.set_cursor(0)
        cached = server.get_frame(0)
        server.request_frame(5)  # the decode thread stalls on frame 5
        assert source.entered.wait(10)
        started = time.monotonic()
        with pytest.raises(FrameTimeoutError, match="frame 5") as caught:
            server.get_frame(5, timeout=0.3)
        with pytest.raises(FrameTimeoutError, match="frame 6"):
            server.get_frame(6, timeout=0.3)  # the decoder is busy: a clear error, not a hang
        with pytest.raises(FrameTimeoutError, match="embedding of frame 6"):
            server.get_embedding(6, timeout=0.3)
        assert isinstance(caught.value, TimeoutError) and "\n" not in str(caught.value)
        assert time.monotonic() - started < 5
        assert server.get_frame(0, timeout=0.3) is cached  # cached frames still come
        source.release.set()  # the decoder recovers: everything comes
        assert server.get_frame(6, timeout=30).shape == (360, 640, 3)
        assert server.get_embedding(6, timeout=60).backend == "classic"
        assert server.get_frame(5, timeout=30).shape == (360, 640, 3)
        assert server._worker.is_alive()
    finally:
        source.release.set()
        server.close()
        source.close()
