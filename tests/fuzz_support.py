"""Fuzzing support shared by the fuzz tests and ``tools/fuzz.py``: seeds, mutations, checks.

A *target* is one parser of user files (`TARGETS`): it gets a path and must return a result
or raise one `FramewiseError` subclass whose one-line message names the file. Anything
else (another exception type, a multi-line message, a run past the per-case deadline, a
file written outside the case folder) is a `FuzzFailure`. Media decoders run in a worker
subprocess (`MediaWorker`) so that a crash in a C decoder is caught and reported.

Mutations are plain tuples of ints, so hypothesis strategies and ``random.Random`` (the
long mode) drive the same code.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_media"
FRAMES = SAMPLES / "frames"
CASE_DEADLINE_S = 20.0
MEDIA_MEMORY_MB = 1500
"""Peak RSS of the media worker above which a case fails: the seeds are small, so only a
declared size that reached a decoder can take this much."""
"""A parser call that takes longer than this counts as a hang (generous: 2 shared cores)."""


class FuzzFailure(AssertionError):
    """An input that broke the contract: the message says what happened and how to rebuild it."""


# -- seeds: real files made by the engine itself --------------------------------------------


def build_seeds(folder: Path) -> dict[str, Path]:
    """Write one valid file per parser into ``folder`` from a real Editor run on the sample
    frames (labels stored in a project): session JSON, ontology, COCO (framewise and plain),
    CVAT for video, project.sqlite, an embedding-cache npz. Returns name -> path."""
    import numpy as np

    from engine.editing.editor import Editor
    from engine.formats.coco import to_coco
    from engine.formats.cvat_video import to_cvat_video
    from engine.formats.project_io import dataset_from_project
    from engine.frames.cache import DiskEmbeddingCache
    from engine.media.fingerprint import media_info
    from engine.media.open import open_media
    from engine.ontology import default_ontology
    from engine.project import Project
    from engine.segment.classic.segmenter import ClassicSegmenter
    from engine.sessions.record import SegmenterInfo, events_of_media, session_from_log, write_session
    from engine.types import Embedding

    folder.mkdir(parents=True, exist_ok=True)
    segmenter = ClassicSegmenter()
    project = Project.create(folder / "project", default_ontology())
    editor = Editor(segmenter, project.ontology, quality=0.2, store=project)
    with editor:
        editor.open(FRAMES)
        editor.toggle_sam()
        editor.click(200, 200)
        editor.click(40, 40, positive=False)
        editor.apply()
        editor.goto(3)
        editor.set_class("box")
        editor.drag_box(300, 100, 420, 220)
        editor.apply()
        name = editor.media_name
    with open_media(FRAMES) as source:
        info = media_info(source, name)
    events = events_of_media(project.events(), project.events(name))
    session = session_from_log(events, info, project.ontology, SegmenterInfo.of(segmenter, 0.2))
    dataset = dataset_from_project(project)
    project.close()
    seeds = {"session": write_session(folder / "session.json", session)}
    seeds["ontology"] = folder / "ontology.json"
    seeds["ontology"].write_text(json.dumps(dataset.ontology.to_json(), indent=1), encoding="utf-8")
    coco = to_coco(dataset)
    seeds["coco"] = folder / "coco.json"
    seeds["coco"].write_text(json.dumps(coco), encoding="utf-8")
    seeds["coco_plain"] = folder / "coco_plain.json"
    seeds["coco_plain"].write_text(json.dumps(plain_coco(coco)), encoding="utf-8")
    seeds["cvat"] = folder / "cvat.xml"
    seeds["cvat"].write_text(to_cvat_video(dataset, name), encoding="utf-8")
    seeds["project"] = folder / "project" / "project.sqlite"
    cache = DiskEmbeddingCache(folder / "cache", "f" * 32)
    embedding = Embedding("classic", segmenter.model, 0.2, (360, 640),
                          {"labels": np.arange(24, dtype=np.int32).reshape(4, 6)}, {"segments": 24, "name": "x"})
    seeds["cache"] = cache.save(3, embedding)
    return seeds


def plain_coco(coco: dict) -> dict:
    """A COCO file as other tools write it: no videos, no framewise fields, images in a folder."""
    images = [{"id": im["id"], "file_name": f"images/{im['file_name'].rsplit('/', 1)[-1]}",
               "width": im["width"], "height": im["height"]} for im in coco["images"]]
    keep = ("id", "image_id", "category_id", "segmentation", "bbox", "area", "iscrowd")
    annotations = [{k: a[k] for k in keep if k in a} for a in coco["annotations"]]
    categories = [{"id": c["id"], "name": c["name"]} for c in coco["categories"]]
    return {"images": images, "annotations": annotations, "categories": categories}


# -- parsers under test ---------------------------------------------------------------------


def parse_session(path: Path) -> Any:
    from engine.sessions.record import load_session

    return load_session(path)


def parse_ontology(path: Path) -> Any:
    from engine.ontology import Ontology

    return Ontology.load(path)


def parse_coco(path: Path) -> Any:
    from engine.formats.coco_import import import_coco

    return import_coco(path)


def parse_cvat(path: Path) -> Any:
    from engine.formats.cvat_import import import_cvat_video

    return import_cvat_video(path)


def parse_project(path: Path) -> Any:
    """Open the project holding ``path`` and read everything in it, as the commands do."""
    from engine.project import Project

    with Project.open(path.parent) as project:
        media = project.media()
        found = (len(project.ontology), project.labels(), project.events(), project.objects(), media)
        for info in media:
            project.labels(info.name)
        project.undo()  # reads the history back (and writes inside the project folder)
        return found


def parse_cache(path: Path) -> Any:
    """Load an embedding cache file: a result or None (a miss), never an exception."""
    from engine.frames.cache import DiskEmbeddingCache

    frame = int(path.stem)
    quality = float(path.parent.name[1:])
    backend, model = path.parent.parent.name.split("_", 1)
    cache = DiskEmbeddingCache(path.parents[3], path.parents[2].name)
    # path_for hashes the raw names; recover them from the seed's layout
    model_name = model.rsplit("-", 1)[0]
    backend_name = backend.rsplit("-", 1)[0]
    original = cache.path_for(frame, backend_name, model_name, quality)
    if original != path:
        raise FuzzFailure(f"cache layout changed: {original} != {path}")
    return cache.load(frame, backend_name, model_name, quality)


def parse_checkpoint(path: Path) -> Any:
    from engine.segment.sam.checkpoint import read_state_dict

    return read_state_dict(str(path))


@dataclass(frozen=True)
class Target:
    name: str
    parse: Callable[[Path], Any]
    kind: str  # json | xml | sqlite | binary: which structural mutations apply
    names_file: bool = True  # errors must name the file


TARGETS = {
    "session": Target("session", parse_session, "json"),
    "ontology": Target("ontology", parse_ontology, "json"),
    "coco": Target("coco", parse_coco, "json"),
    "coco_plain": Target("coco_plain", parse_coco, "json"),
    "cvat": Target("cvat", parse_cvat, "xml"),
    "project": Target("project", parse_project, "sqlite"),
    "cache": Target("cache", parse_cache, "binary"),
}


# -- checking one case -------------------------------------------------------------------


class _Deadline(BaseException):
    """Raised by the alarm inside a case that ran past its deadline (not an Exception, so
    no parser's ``except Exception`` swallows it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; a no-op elsewhere)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _Deadline()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with (size, mtime_ns), symlinks not followed."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            found[path.relative_to(folder).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def check_outcome(target: Target, path: Path, *, guard: Path, what: str, seconds: float = CASE_DEADLINE_S) -> str:
    """Run ``target`` on ``path``; ``"ok"`` or ``"error"`` (a clean `FramewiseError`).

    guard: a folder holding the case folder (``path.parent``) and a sentinel; nothing under
    it but the case folder may change. what: how the input was made, for the failure message.
    """
    from engine.errors import FramewiseError

    case_folder = path.parent
    before = {k: v for k, v in listing(guard).items() if not _under(guard / k, case_folder)}
    start = time.monotonic()
    outcome = "ok"
    try:
        with deadline(seconds):
            target.parse(path)
    except _Deadline:
        raise FuzzFailure(f"{target.name}: {what}: no answer after {seconds:g} s (hang)") from None
    except FramewiseError as exc:
        outcome = "error"
        message = str(exc)
        if "\n" in message or not message.strip():
            raise FuzzFailure(f"{target.name}: {what}: error message is not one line: {message!r}") from exc
        if target.names_file and not (str(path) in message or str(case_folder) in message):
            raise FuzzFailure(f"{target.name}: {what}: error does not name the file: {message!r}") from exc
    except Exception as exc:
        raise FuzzFailure(f"{target.name}: {what}: {type(exc).__name__}: {exc}"[:2000]) from exc
    elapsed = time.monotonic() - start
    if elapsed > seconds:
        raise FuzzFailure(f"{target.name}: {what}: took {elapsed:.1f} s")
    after = {k: v for k, v in listing(guard).items() if not _under(guard / k, case_folder)}
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))[:3]
        raise FuzzFailure(f"{target.name}: {what}: wrote outside its folder: {changed}")
    return outcome


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def fresh_case(work: Path, seed: Path, name: str) -> Path:
    """A clean case folder under ``work`` with a copy of ``seed`` (its whole folder for a
    project); the path of the copy. ``work/outside/sentinel`` is (re)made as the guard."""
    sentinel = work / "outside" / "sentinel"
    if not sentinel.exists():
        sentinel.parent.mkdir(parents=True, exist_ok=True)
        sentinel.write_text("must not change\n")
    case = work / "case"
    if case.exists():
        shutil.rmtree(case)
    if name == "cache":  # the cache layout is part of the key: copy the tree
        tree = seed.parents[3]
        shutil.copytree(tree, case / tree.name, symlinks=True)
        return case / tree.name / seed.relative_to(tree)
    case.mkdir(parents=True)
    target = case / seed.name
    shutil.copyfile(seed, target)
    return target


# -- the media worker -----------------------------------------------------------------------


def peak_rss_mb() -> int:
    """This process's own peak resident memory (``VmHWM``). Not ``ru_maxrss``: Linux carries
    the parent's peak over ``exec``, so a worker started by a 2.7 GB fuzzing driver would
    report 2.7 GB before opening anything."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def media_worker() -> None:
    """Loop of the media subprocess: one JSON line per path in, one JSON line per result out."""
    from engine.errors import FramewiseError
    from engine.media.open import open_media

    for line in sys.stdin:
        path = json.loads(line)["path"]
        try:
            with open_media(path) as source:
                n = len(source)
                for index in sorted({0, n // 2, n - 1}):
                    frame = source.frame(index)
                    if frame.shape != (*source.shape, 3):
                        raise AssertionError(f"frame {index} is {frame.shape}, source says {source.shape}")
            result = {"outcome": "ok", "frames": n}
        except FramewiseError as exc:
            result = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent as a bug
            result = {"outcome": "bug", "type": type(exc).__name__, "message": str(exc)[:500]}
        result["maxrss_mb"] = peak_rss_mb()
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class Worker:
    """A subprocess answering one JSON line per JSON line asked; killed and started afresh
    after a hang, a crash or a peak RSS above ``memory_mb``. ``entry`` names the loop:
    ``"module.function"`` of a module in ``tests/``."""

    entry = ""
    memory_mb = 0
    env: dict[str, str] = {}

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def ask(self, request: dict, timeout: float) -> dict:
        """The worker's answer, or ``{"outcome": "hang" | "crash" | "memory", "message": ...}``."""
        if self._proc is None or self._proc.poll() is not None:
            module, function = self.entry.split(".")
            code = f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import {module}; {module}.{function}()"
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **self.env}
            self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            return {"outcome": "hang", "message": f"no answer after {timeout:g} s"}
        line = proc.stdout.readline()
        if not line:
            status = proc.wait(timeout=5)
            self._proc = None
            return {"outcome": "crash", "message": f"worker died with exit status {status}"}
        result = json.loads(line)
        if result.get("maxrss_mb", 0) > self.memory_mb:  # peak RSS only grows: start afresh
            self.close()
            return {"outcome": "memory", "message": f"worker peak RSS {result['maxrss_mb']} MB > {self.memory_mb} MB"}
        return result

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


class MediaWorker(Worker):
    """A subprocess that opens media (`media_worker`)."""

    entry = "fuzz_support.media_worker"
    memory_mb = MEDIA_MEMORY_MB
    # OpenCV's own pixel limit (also set by `engine`), so a size the header check missed
    # shows as OpenCV's refusal (`check_media` fails on it) rather than as gigabytes.
    env = {"OPENCV_IO_MAX_IMAGE_PIXELS": str(1 << 28)}

    def run(self, path: Path, timeout: float = CASE_DEADLINE_S) -> dict:
        return self.ask({"path": str(path)}, timeout)


def check_media(worker: MediaWorker, path: Path, *, guard: Path, what: str) -> str:
    """`check_outcome` for media, through the worker: ``"ok"`` or ``"error"``."""
    before = {k: v for k, v in listing(guard).items() if not _under(guard / k, path.parent)}
    result = worker.run(path)
    outcome = result["outcome"]
    if outcome not in ("ok", "error"):
        raise FuzzFailure(f"media: {what}: {outcome}: {result.get('type', '')} {result.get('message', '')}")
    if outcome == "error":
        message = result["message"]
        if "\n" in message or str(path.parent) not in message:
            raise FuzzFailure(f"media: {what}: error is not one line naming the file: {message!r}")
        if "CV_IO_MAX_IMAGE_PIXELS" in message:
            raise FuzzFailure(f"media: {what}: a declared size over the limit reached OpenCV's decoder: {message!r}")
    after = {k: v for k, v in listing(guard).items() if not _under(guard / k, path.parent)}
    if after != before:
        raise FuzzFailure(f"media: {what}: wrote outside its folder")
    return outcome


from fuzz_mutations import (  # noqa: F401, E402  (re-exported: one import for the tests)
    BYTE_OPS,
    OPS,
    apply_plan,
    byte_step,
    mutate_npz,
    mutate_sqlite,
    mutate_text,
    plan_strategy,
    random_plan,
)
