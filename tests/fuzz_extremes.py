"""Fuzzing with extreme numbers: sessions and SAM checkpoints (issue #17).

- sessions: a small valid session on a tiny 4-frame media (`seed_session`: every event kind
  that carries a number) with one to three of its numeric fields (`NUMERIC_PATHS`: object
  ids, frame indexes, sizes, counts, changes, quality, coordinates, times, the version)
  replaced by an extreme value (`EXTREMES`: 2**63, 2**64, 10**12, -1, 1e308, nan, inf,
  10**400, and raw tokens such as ``1e400`` that JSON reads as infinity). `check_session_case`
  wants one one-line `SessionFormatError` naming the file, or a session that then replays
  on the tiny media in a worker process capped by ``RLIMIT_AS`` (`REPLAY_MEMORY_MB`) within
  the deadline. A ``"changes": 10**12`` used to grow a list until memory ran out.
- checkpoints: one tensor rebuilt by torch's own ``_rebuild_tensor_v2`` from a plan (dtype,
  stored elements, size, strides, offset; or a sparse tensor of a huge size) next to a plain
  one. `check_checkpoint_case` wants a `CheckpointError` naming the file, or tensors that
  together hold no more than the file stores, so converting them (``.float()``) allocates
  at most twice the file. A 20 MB file whose stride-0 view asked for 10.7 GB started this.

Plans are plain ints, so hypothesis (``tests/sessions/test_fuzz_extremes.py``,
``tests/segment/test_sam_checkpoint_fuzz.py``) and ``random.Random`` (``tools/fuzz.py``
targets ``session_numbers`` and ``checkpoint_tensors``) drive the same code.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from tests.fuzz_support import Worker, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / "sample_media" / "frames"
DEADLINE_S = 20.0
REPLAY_MEMORY_MB = 3072
"""Address-space cap of the replay worker (``RLIMIT_AS``): a replay that allocates per
declared change dies here with a MemoryError instead of taking the machine."""
REPLAY_RSS_MB = 600
"""Peak RSS above which an accepted session's replay counts as a failure (the worker's
imports take about 200 MB; the tiny media and its labels a few more)."""

EXTREMES: tuple[Any, ...] = (
    2**63, 2**63 - 1, 2**64, -(2**63) - 1, 10**12, 10_000_000, 9_999_999, 2**28, 2**31, -1, 0, 1, 2,
    1e308, -1e308, float("nan"), float("inf"), float("-inf"), 10**400, 1e-320, 0.5, 2**53 + 1, 1e6,
    "raw:1e400", "raw:-1e400", "raw:-0", "raw:1E+308",
)
"""Values put into numeric fields; ``raw:`` ones are written into the JSON text as they are."""

TINY_SIZE = (64, 48)
TINY_FRAMES = 4


def tiny_media(folder: Path) -> Path:
    """A folder of 4 frames of 64×48 (the first sample frames, shrunk): a media that every
    replay can afford; returns the folder."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(TINY_FRAMES):
        frame = cv2.imread(str(FRAMES / f"frame_{index}.jpg"))
        cv2.imwrite(str(folder / f"frame_{index}.png"), cv2.resize(frame, TINY_SIZE, interpolation=cv2.INTER_AREA))
    return folder


def seed_session(media: str = "tiny") -> dict:
    """A valid session on the tiny media with every event kind that carries a number."""
    width, height = TINY_SIZE

    def event(kind: str, frame: int | None, **data: Any) -> dict:
        return {"kind": kind, "frame": frame, "data": data, "time": 0.0}

    events = [
        event("quality", None, value=0.4),
        event("open", 0, media=media, frames=TINY_FRAMES, size=[width, height]),
        event("sam", 0, on=True),
        event("class", 0, name="object"),
        event("goto", 1),
        event("click", 1, x=0.5, y=0.5, positive=True),
        event("candidate", 1, index=0),
        event("apply", 1, object_id=1, class_name="object"),
        event("click", 1, x=0.2, y=0.2, positive=True),
        event("apply", 1, object_id=2, class_name="object"),
        event("class", 1, name="box"),
        event("box", 1, x0=0.1, y0=0.1, x1=0.6, y1=0.7),
        event("apply", 1, object_id=3, class_name="box"),
        event("edit", 1, object_id=1, shape={"type": "polygon", "parts": [[[[0.2, 0.2], [0.7, 0.25], [0.5, 0.8]]]]}),
        event("edit", 1, object_id=3, shape={"type": "bounding_box", "box": [0.1, 0.1, 0.4, 0.5]}),
        event("relabel", 1, object_id=2, class_name="part"),
        event("undo", 1, change="relabel", change_id=7, labels=[], objects=[2]),
        event("redo", 1, change="relabel", change_id=7, labels=[], objects=[2]),
        event("propagate", 1, objects=[1], direction=1, until=2, changes=1),
        event("goto", 3),
        event("class", 3, name="object"),
        event("click", 3, x=0.5, y=0.5, positive=True),
        event("apply", 3, object_id=1, class_name="object"),
        event("interpolate", 1, object_id=1, frame_a=1, frame_b=3, changes=1),
        event("rename", None, object_id=1, name="first"),
        event("delete", 1, object_id=2),
    ]
    for index, item in enumerate(events):
        item["time"] = 100.0 + index
    return {
        "format": "framewise-session",
        "version": 1,
        "media": {"name": media, "fingerprint": "ab" * 32, "width": width, "height": height,
                  "frames": TINY_FRAMES, "fps": 25.0, "timestamps": [i / 25 for i in range(TINY_FRAMES)]},
        "ontology": [{"name": "object", "shape": "polygon", "colour": "#e6194b", "hotkey": "1"},
                     {"name": "box", "shape": "bounding_box", "colour": "#3cb44b", "hotkey": None},
                     {"name": "part", "shape": "polygon", "colour": "#4363d8", "hotkey": None}],
        "segmenter": {"backend": "classic", "model": "classic-v1", "quality": 0.4},
        "events": events,
    }


def numeric_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """The path (keys and indexes) of every number in ``value`` (booleans are not numbers)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [path for key, item in items for path in numeric_paths(item, (*prefix, key))]


NUMERIC_PATHS = numeric_paths(seed_session())

SessionPlan = list[tuple[int, int]]
"""(index into NUMERIC_PATHS, index into EXTREMES) per edit."""


def session_text(plan: SessionPlan, media: str = "tiny") -> str:
    """The seed session's JSON text with the plan's numbers put in."""
    data = seed_session(media)
    raw: dict[str, str] = {}
    for path_index, value_index in plan:
        *keys, last = NUMERIC_PATHS[path_index % len(NUMERIC_PATHS)]
        target = data
        for key in keys:
            target = target[key]
        value = EXTREMES[value_index % len(EXTREMES)]
        if isinstance(value, str):  # raw:TOKEN
            marker = f"@raw{len(raw)}@"
            raw[marker] = value.removeprefix("raw:")
            value = marker
        target[last] = value
    text = json.dumps(data, allow_nan=True)
    for marker, token in raw.items():
        text = text.replace(json.dumps(marker), token)
    return text


def session_plan_strategy():
    from hypothesis import strategies as st

    edit = st.tuples(st.integers(0, len(NUMERIC_PATHS) - 1), st.integers(0, len(EXTREMES) - 1))
    return st.lists(edit, min_size=1, max_size=3)


def random_session_plan(rng) -> SessionPlan:
    return [(rng.randrange(len(NUMERIC_PATHS)), rng.randrange(len(EXTREMES))) for _ in range(rng.randrange(1, 4))]


def describe_plan(plan: SessionPlan) -> str:
    return ", ".join(
        f"{'.'.join(map(str, NUMERIC_PATHS[p % len(NUMERIC_PATHS)]))}={EXTREMES[v % len(EXTREMES)]!r}" for p, v in plan
    )


# -- replaying accepted sessions in a capped worker ---------------------------------------------


def replay_worker() -> None:
    """Loop of the replay subprocess: ``{"session", "media"}`` per line in, one JSON line out."""
    resource.setrlimit(resource.RLIMIT_AS, (REPLAY_MEMORY_MB << 20, REPLAY_MEMORY_MB << 20))
    from engine.editing.editor import Editor
    from engine.errors import FramewiseError
    from engine.segment.classic.segmenter import ClassicSegmenter
    from engine.sessions.record import load_session
    from engine.sessions.replay import replay_session

    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        try:
            session = load_session(request["session"])
            editor = Editor(ClassicSegmenter(), session.ontology, quality=session.segmenter.quality,
                            frame_server_options={"window": (0, 0)})
            with editor:
                report = replay_session(session, request["media"], editor)
            result = {"outcome": "ok", "applied": report.applied, "skipped": len(report.skipped)}
        except FramewiseError as exc:
            result = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
        except MemoryError:
            result = {"outcome": "memory", "message": f"MemoryError under a {REPLAY_MEMORY_MB} MB address-space cap"}
        except Exception as exc:  # noqa: BLE001 - reported to the parent as a bug
            result = {"outcome": "bug", "type": type(exc).__name__, "message": str(exc)[:500]}
        result["seconds"] = round(time.monotonic() - start, 3)
        result["maxrss_mb"] = peak_rss_mb()
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class ReplayWorker(Worker):
    """A subprocess that replays sessions under ``RLIMIT_AS`` (`replay_worker`)."""

    entry = "fuzz_extremes.replay_worker"
    memory_mb = REPLAY_RSS_MB

    def run(self, session: Path, media: Path, timeout: float = DEADLINE_S) -> dict:
        return self.ask({"session": str(session), "media": str(media)}, timeout)


def check_session_case(plan: SessionPlan, work: Path, media: Path, worker: ReplayWorker | None) -> str:
    """``"error"`` (refused in one line naming the file) or ``"replayed"`` (accepted, and
    replayed on ``media`` within the deadline and memory caps; ``"accepted"`` when no
    ``worker`` is given to replay it); AssertionError otherwise."""
    from engine.errors import SessionFormatError
    from engine.sessions.record import load_session

    what = describe_plan(plan)
    path = work / "S.json"
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(session_text(plan, media.name), encoding="utf-8")
    start = time.monotonic()
    try:
        load_session(path)
    except SessionFormatError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{path}: "), f"{what}: {message!r}"
        assert len(message) < 400, f"{what}: a {len(message)}-character message"
        assert time.monotonic() - start < DEADLINE_S, f"{what}: refused after {time.monotonic() - start:.1f} s"
        return "error"
    except Exception as exc:  # noqa: BLE001 - the contract: nothing else
        raise AssertionError(f"{what}: load_session raised {type(exc).__name__}: {exc}"[:1000]) from exc
    if worker is None:
        return "accepted"
    result = worker.run(path, media)
    assert result["outcome"] in ("ok", "error"), f"{what}: replay {result['outcome']}: {result.get('message', '')}"
    if result["outcome"] == "error":  # a replay may refuse (one line) what loading accepted
        assert "\n" not in result["message"], f"{what}: {result['message']!r}"
    return "replayed"


# -- checkpoints with extreme tensors ------------------------------------------------------------

CHECKPOINT_DTYPES = ("float16", "float32", "bfloat16", "float64", "int64", "uint8", "bool", "complex64", "int8")
DIMENSIONS = (0, 1, 2, 3, 10**3, 10**5, 2**31, 2**40, 2**62)
STRIDES = (0, 1, 2, 3, -1, 10**6, 2**40)

CheckpointPlan = tuple[int, int, list[tuple[int, int]], int, int]
"""(dtype index, stored elements, (size index, stride index) per dimension, storage offset,
form: 0 bare state dict, 1 wrapped in {"model": ...}, 2 with a second view of the storage, 3 sparse)."""


def checkpoint_plan_strategy():
    from hypothesis import strategies as st

    dims = st.lists(st.tuples(st.integers(0, len(DIMENSIONS) - 1), st.integers(0, len(STRIDES) - 1)), min_size=0, max_size=4)
    return st.tuples(st.integers(0, len(CHECKPOINT_DTYPES) - 1), st.integers(0, 64), dims, st.integers(0, 8),
                     st.integers(0, 3))


def random_checkpoint_plan(rng) -> CheckpointPlan:
    dims = [(rng.randrange(len(DIMENSIONS)), rng.randrange(len(STRIDES))) for _ in range(rng.randrange(5))]
    return (rng.randrange(len(CHECKPOINT_DTYPES)), rng.randrange(65), dims, rng.randrange(9), rng.randrange(4))


class _Rebuilt:
    """Pickles as torch's own ``_rebuild_tensor_v2(storage, offset, size, stride)`` call, so
    the file declares any view over its storage (what a crafted checkpoint does)."""

    def __init__(self, storage: Any, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        import collections

        import torch

        storage, offset, size, stride = self.args
        return (torch._utils._rebuild_tensor_v2, (storage, offset, size, stride, False, collections.OrderedDict()))


def build_checkpoint(path: Path, plan: CheckpointPlan) -> None:
    """Write the checkpoint a plan describes: ``image_encoder.pos_embed`` rebuilt from the plan
    and a plain ``mask_decoder.mask_tokens.weight``."""
    import torch

    dtype_index, stored, dims, offset, form = plan
    dtype = getattr(torch, CHECKPOINT_DTYPES[dtype_index % len(CHECKPOINT_DTYPES)])
    size = tuple(DIMENSIONS[s % len(DIMENSIONS)] for s, _ in dims)
    stride = tuple(STRIDES[t % len(STRIDES)] for _, t in dims)
    if form == 3:  # sparse: a few values at a huge declared size
        extent = tuple(min(max(1, d), 2**31) for d in size[:2]) or (2**40,)  # numel within int64
        indices = torch.zeros(len(extent), min(stored, 4), dtype=torch.int64)
        tensor: Any = torch.sparse_coo_tensor(indices, torch.ones(min(stored, 4)), extent, check_invariants=True)
    else:
        storage = torch.zeros(stored, dtype=dtype).untyped_storage()
        typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)
        tensor = _Rebuilt(typed, offset, size, stride)
    state: dict[str, Any] = {"image_encoder.pos_embed": tensor, "mask_decoder.mask_tokens.weight": torch.ones(4, 8)}
    if form == 2:  # a second view of the same storage, one element further on
        state["image_encoder.copy"] = _Rebuilt(typed, offset + 1, size, stride)
    torch.save({"model": state} if form == 1 else state, path)


def check_checkpoint_case(path: Path, what: str) -> str:
    """``"error"`` (one `CheckpointError` line naming the file) or ``"ok"`` (tensors that hold
    no more than the file stores, converted to float32 without a large allocation)."""
    from engine.errors import CheckpointError
    from engine.segment.sam.checkpoint import read_state_dict

    try:
        tensors = read_state_dict(str(path))
    except CheckpointError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, f"{what}: {message!r}"
        return "error"
    except Exception as exc:  # noqa: BLE001 - the contract: nothing else
        raise AssertionError(f"{what}: {type(exc).__name__}: {exc}"[:1000]) from exc
    declared = sum(t.numel() * t.element_size() for t in tensors.values())
    assert declared <= path.stat().st_size, f"{what}: {declared} bytes declared by a {path.stat().st_size}-byte file"
    for tensor in tensors.values():
        if tensor.is_floating_point():
            tensor.float()  # what load_sam does: bounded by the check above
    return "ok"
