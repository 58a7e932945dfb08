"""Sessions with extreme numbers in every numeric field (issue #17, see `fuzz_extremes`).

Each input is refused with one `SessionFormatError` line naming the file, or accepted and
then replayed on a tiny 4-frame media in a worker whose address space is capped: a
``"changes": 10**12`` used to grow a list until memory ran out. ``FRAMEWISE_FUZZ=long``
runs 50× more with random seeds (``tools/fuzz.py --targets session_numbers``).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parents[1]))
import fuzz_extremes as fx

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"
SCALE = 50 if LONG else 1
OUTCOMES: Counter = Counter()


def fuzz_settings(examples: int):
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not LONG, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return fx.tiny_media(tmp_path_factory.mktemp("media") / "tiny")


@pytest.fixture(scope="module")
def worker():
    worker = fx.ReplayWorker()
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cases")


def test_the_seed_session_is_valid_and_replays(media, worker, work):
    """The unmutated seed loads and replays: a fuzz run that only saw errors would prove little."""
    assert fx.check_session_case([], work, media, worker) == "replayed"
    result = worker.run(work / "S.json", media)
    assert result["outcome"] == "ok" and result["applied"] == 26 and result["skipped"] == 0, result
    assert len(fx.NUMERIC_PATHS) >= 50  # ids, frames, sizes, counts, changes, quality, coordinates, times


def _field_kind(field: tuple) -> tuple:
    """('events', 7, 'data', 'object_id') -> ('apply', 'object_id'): the event kind and key
    (every event's time: one kind)."""
    if field[0] != "events" or field[-1] == "time":
        return field[:2] if field[0] != "events" else ("time",)
    return (fx.seed_session()["events"][field[1]]["kind"], *(k for k in field[2:] if isinstance(k, str)))


def _is_id(field: tuple) -> bool:
    return field[-1] in ("object_id", "change_id") or (len(field) > 1 and field[-2] == "objects")


ACCEPTED_BY = {  # value -> which fields may hold it (all others refuse it in one line)
    2**63: lambda field: field[-1] == "time",
    10**12: lambda field: field[-1] == "time" or _is_id(field),
    10**400: lambda field: False,
    "raw:1e400": lambda field: False,  # JSON reads it as infinity
    -1: lambda field: field[-1] in ("time", "direction") or field == ("media", "timestamps", 0),
}


@pytest.mark.parametrize("value", ACCEPTED_BY, ids=lambda v: str(v)[:12])
def test_every_numeric_field_is_bounded(media, worker, work, value):
    """Each numeric field alone set to an extreme: refused in one line, except where the
    value is in range (an id of 10**12, a time), and then replayed within the caps (one
    replay per kind of field: the apply's object id, the undo's change id...)."""
    replayed: set[tuple] = set()
    accepted = []
    for index, field in enumerate(fx.NUMERIC_PATHS):
        kind = _field_kind(field)
        outcome = fx.check_session_case([(index, fx.EXTREMES.index(value))], work, media,
                                        None if kind in replayed else worker)
        if outcome != "error":
            accepted.append(field)
            replayed.add(kind)
    assert accepted == [field for field in fx.NUMERIC_PATHS if ACCEPTED_BY[value](field)]


@fuzz_settings(100)
@given(plan=fx.session_plan_strategy())
def test_fuzz_sessions_with_extreme_numbers(media, worker, work, plan):
    OUTCOMES[fx.check_session_case(plan, work, media, worker)] += 1


def test_the_fuzzer_saw_both_outcomes():
    """Refusals and replays both happened (run with ``-s`` to see the counts)."""
    print(f"session fuzz outcomes: {dict(OUTCOMES)}")
    assert OUTCOMES["error"] > 0 and OUTCOMES["replayed"] > 0, OUTCOMES


def test_many_propagations_declaring_the_most_changes_replay_in_bounded_memory(media, worker, work):
    """The largest session the limits accept for these events: a media declared with
    MAX_FRAMES frames and 200 propagations of MAX_FRAMES changes each (2*10**9 undo steps
    declared; one flag per step took 16 GB) replays in the capped worker."""
    from engine.limits import MAX_FRAMES

    data = fx.seed_session(media.name)
    data["media"]["frames"] = MAX_FRAMES
    del data["media"]["timestamps"]
    propagate = {"kind": "propagate", "frame": 0, "time": 200.0,
                 "data": {"objects": [7], "direction": 1, "until": MAX_FRAMES - 1, "changes": MAX_FRAMES}}
    undo = {"kind": "undo", "frame": 0, "time": 201.0,
            "data": {"change": "propagate", "change_id": 1, "labels": [], "objects": [7]}}
    data["events"] = data["events"][:2] + [propagate] * 200 + [undo] * 3
    path = work / "many.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert path.stat().st_size < 64_000
    result = worker.run(path, media)
    assert result["outcome"] == "ok" and result["skipped"] == 203, result
    assert result["seconds"] < 10, result


def test_found_by_the_long_run_interpolating_a_box_with_a_polygon(media, worker, work):
    """``tools/fuzz.py`` (session_numbers): the box apply given object id 1 left object 1 a
    box on frame 1 and a polygon on frame 3; interpolating them raised ValueError. Now the
    interpolate event is skipped with one line."""
    plan = [(fx.NUMERIC_PATHS.index(("events", 12, "data", "object_id")), fx.EXTREMES.index(1))]
    assert fx.check_session_case(plan, work, media, worker) == "replayed"
    result = worker.run(work / "S.json", media)
    assert result["outcome"] == "ok" and result["skipped"] == 3, result
