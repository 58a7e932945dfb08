"""Fuzzing every parser of user files with mutated real seeds (see `fuzz_support`).

Each input must give a result or one `FramewiseError` subclass with a one-line message
naming the file; never another exception, never a hang, never a write outside its folder.
CI runs a small derandomized sample; ``FRAMEWISE_FUZZ=long`` runs 50× more with random
seeds (``tools/fuzz.py --minutes N`` is the nightly driver).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parents[1]))
import fuzz_rle
import fuzz_support as fz

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"
SCALE = 50 if LONG else 1


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=not LONG,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    return fz.build_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def run_plan(name: str, seeds: dict[str, Path], work: Path, plan: list[tuple]) -> str:
    target = fz.TARGETS[name]
    path = fz.fresh_case(work, seeds[name], name)
    fz.apply_plan(target, path, plan)
    outcome = fz.check_outcome(target, path, guard=work, what=f"plan {plan!r}")
    assert (work / "outside" / "sentinel").read_text() == "must not change\n"
    return outcome


def test_every_seed_parses(seeds, work):
    """The unmutated seeds are valid: a fuzz run that only ever saw errors would prove little."""
    for name in fz.TARGETS:
        assert run_plan(name, seeds, work, []) == "ok", name
    cache = fz.parse_cache(fz.fresh_case(work, seeds["cache"], "cache"))
    assert cache is not None and cache.arrays["labels"].shape == (4, 6)
    session = fz.parse_session(seeds["session"])
    assert [e.kind for e in session.events][:3] == ["open", "sam", "click"]


# One test per parser: CI examples chosen so the whole file stays well under 30 s on 2 cores.
@fuzz_settings(60)
@given(plan=fz.plan_strategy("json"))
def test_fuzz_session(seeds, work, plan):
    run_plan("session", seeds, work, plan)


@fuzz_settings(40)
@given(plan=fz.plan_strategy("json"))
def test_fuzz_ontology(seeds, work, plan):
    run_plan("ontology", seeds, work, plan)


@fuzz_settings(60)
@given(plan=fz.plan_strategy("json"))
def test_fuzz_coco(seeds, work, plan):
    run_plan("coco", seeds, work, plan)


@fuzz_settings(40)
@given(plan=fz.plan_strategy("json"))
def test_fuzz_coco_plain(seeds, work, plan):
    run_plan("coco_plain", seeds, work, plan)


@fuzz_settings(50)
@given(plan=fz.plan_strategy("xml"))
def test_fuzz_cvat(seeds, work, plan):
    run_plan("cvat", seeds, work, plan)


@fuzz_settings(40)
@given(plan=fz.plan_strategy("sqlite"))
def test_fuzz_project(seeds, work, plan):
    run_plan("project", seeds, work, plan)


@fuzz_settings(40)
@given(plan=fz.plan_strategy("binary"))
def test_fuzz_embedding_cache(seeds, work, plan):
    run_plan("cache", seeds, work, plan)


# -- regressions: inputs the fuzzer found, kept as plain cases ------------------------------


@pytest.mark.parametrize(
    "name, plan, words",
    [
        # RecursionError escaped json.loads in Ontology.load and import_coco
        ("ontology", [("deep", 1, 5000, "")], "nested too deeply"),
        ("coco", [("deep", 1, 5000, "")], "nested too deeply"),
        # project schema_version -1 reached MIGRATIONS[-1] (KeyError)
        ("project", [("version", 0, 3, "")], "bad schema version"),
    ],
)
def test_found_by_fuzzing(seeds, work, name, plan, words):
    target = fz.TARGETS[name]
    path = fz.fresh_case(work, seeds[name], name)
    fz.apply_plan(target, path, plan)
    from engine.errors import FramewiseError

    with pytest.raises(FramewiseError, match=words):
        target.parse(path)


def test_rle_run_beyond_int64_and_huge_size_are_refused(seeds, work):
    """An RLE count past 64 bits raised OverflowError; a huge declared size would allocate."""
    from engine.errors import SessionFormatError

    data = json.loads(seeds["coco"].read_text())
    ann = data["annotations"][0]
    image = next(im for im in data["images"] if im["id"] == ann["image_id"])
    ann["segmentation"] = {"size": [image["height"], image["width"]], "counts": [10**30]}
    path = work / "rle.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFormatError, match=r"longer than height\*width"):
        fz.parse_coco(path)
    ann["segmentation"] = {"size": [10**6, 10**6], "counts": [10**12]}
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFormatError, match="is not the image's"):  # refused before decoding
        fz.parse_coco(path)


def test_corrupt_project_cells_are_project_errors(seeds, work):
    """Text where a number belongs (a float score, JSON timestamps) raised ValueError."""
    import sqlite3

    from engine.errors import ProjectError

    for table, column, value, words in [
        ("labels", "score", "[1e999]", "label .* is corrupt"),
        ("media", "timestamps", "{", "media .* is corrupt"),
        ("media", "width", "wide", "media .* is corrupt"),
        ("events", "time", "soon", "event .* is corrupt"),
    ]:
        path = fz.fresh_case(work, seeds["project"], "project")
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA ignore_check_constraints = ON")
            db.execute(f"UPDATE {table} SET {column} = ?", (value,))
        db.close()
        with pytest.raises(ProjectError, match=words) as info:
            fz.parse_project(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "statements, words",
    [
        # a blob where the ontology has text: TypeError (re on bytes), AttributeError (.encode)
        (["UPDATE classes SET colour = x'00ff' WHERE position = 0"], "classes are unusable .* not text"),
        (["UPDATE classes SET name = x'00ff' WHERE position = 0"], "classes are unusable .* not text"),
        (["UPDATE classes SET hotkey = x'00ff' WHERE position = 0"], "classes are unusable .* not text"),
        # text that is not UTF-8: UnicodeDecodeError from the meta rows, a quoted cell
        # (with its newline) in SQLite's message from the events
        (["UPDATE meta SET value = CAST(x'7b80ff0a7d' AS TEXT) WHERE key = 'application'"], "not UTF-8"),
        (["UPDATE events SET data = CAST(x'7b2261223a0aff7d' AS TEXT)"], "not UTF-8 \\(column 'data'\\)"),
        # an undo record with neither a row before nor after it: AssertionError in undo
        (["UPDATE changes SET row_before = NULL, row_after = NULL"], "undo history is damaged"),
    ],
)
def test_damaged_project_text_is_one_project_error(seeds, work, statements, words):
    """Found by ``tools/fuzz.py`` (project, seed 20261205): 18 of 15 815 damaged projects
    ended in another exception or a message of several lines."""
    import sqlite3

    from engine.errors import ProjectError

    path = fz.fresh_case(work, seeds["project"], "project")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            assert db.execute(statement).rowcount > 0, statement
    db.close()
    with pytest.raises(ProjectError, match=words) as info:
        fz.parse_project(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_schema_damaged_across_lines_is_reported_on_one_line(seeds, work):
    """SQLite quotes the damaged CREATE statement, newlines included."""
    import sqlite3

    from engine.errors import ProjectError

    path = fz.fresh_case(work, seeds["project"], "project")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA writable_schema = ON")
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'labels'").fetchone()[0]
        assert "\n" in sql
        db.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'labels'", (sql.replace("(", "(`", 1),))
    db.close()
    with pytest.raises(ProjectError, match="corrupt") as info:
        fz.parse_project(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and len(message) < 500


def test_cache_file_in_an_unknown_zip_version_is_a_miss(seeds, work):
    """zipfile raised NotImplementedError for an unsupported 'version needed' field."""
    path = fz.fresh_case(work, seeds["cache"], "cache")
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 6:central + 8] = (255).to_bytes(2, "little")  # version needed to extract: 25.5
    local = data.find(b"PK\x03\x04")
    data[local + 4:local + 6] = (255).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    assert fz.parse_cache(path) is None
    assert not path.exists()  # removed, so the next request recomputes


def test_checkpoint_mutations(tmp_path):
    """Mutated torch checkpoints: a state dict or a `CheckpointError` naming the file."""
    torch = pytest.importorskip("torch")
    import random

    seed = tmp_path / "seed" / "sam.pth"
    seed.parent.mkdir()
    torch.save({"image_encoder.pos_embed": torch.zeros(1, 4, 4, 8), "mask_decoder.x": torch.ones(3)}, seed)
    target = fz.Target("checkpoint", fz.parse_checkpoint, "binary")
    rng = random.Random(7)
    outcomes = []
    for case in range(40 * SCALE):
        path = fz.fresh_case(tmp_path, seed, "checkpoint")
        data = seed.read_bytes()
        for _ in range(rng.randrange(1, 4)):
            data = fz.byte_step(data, rng.choice(fz.BYTE_OPS), rng.randrange(2**31), rng.randrange(2**31))
        path.write_bytes(data)
        outcomes.append(fz.check_outcome(target, path, guard=tmp_path, what=f"checkpoint case {case}"))
    assert "error" in outcomes


@pytest.mark.parametrize("name", ["session", "coco"])
def test_integers_too_long_for_a_float_are_refused(seeds, work, name):
    """``math.isfinite(10**400)`` raised OverflowError in the number checks."""
    from engine.errors import SessionFormatError

    data = json.loads(seeds[name].read_text())
    if name == "session":
        data["segmenter"]["quality"] = 10**400
    else:
        data["annotations"][0]["score"] = 10**400
    path = fz.fresh_case(work, seeds[name], name)
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFormatError, match="expected a"):
        fz.TARGETS[name].parse(path)


@pytest.mark.parametrize("field", ["frames", "frame_index"])
def test_a_video_declaring_2_63_frames_is_refused_not_looped_over(seeds, work, field):
    """Found by the long run: ``videos[0].frames = 2**63`` hung import_coco (a list per frame)."""
    from engine.errors import SessionFormatError

    data = json.loads(seeds["coco"].read_text())
    if field == "frames":
        data["videos"][0]["frames"] = 2**63
    else:
        data.pop("videos")
        data["images"][0]["frame_index"] = 2**63
    path = fz.fresh_case(work, seeds["coco"], "coco")
    path.write_text(json.dumps(data))
    target = fz.Target("coco", fz.parse_coco, "json")
    assert fz.check_outcome(target, path, guard=work, what=field, seconds=10) == "error"
    with pytest.raises(SessionFormatError, match="over the limit|does not fit a 64-bit integer"):
        fz.parse_coco(path)


# -- the RLE decoder with extreme run lengths (issue #17: a 261-byte COCO file segfaulted) --


@fuzz_settings(300)
@given(plan=fuzz_rle.rle_plan_strategy())
def test_fuzz_rle_decoder_with_extreme_counts(plan):
    """A mask of exactly the declared size whose foreground is the sum of the odd runs
    (pixel for pixel as a plain-Python decoding), or one `RLEError`; never a crash."""
    fuzz_rle.check_rle(fuzz_rle.build_rle(plan))


@pytest.mark.parametrize("value", fuzz_rle.EXTREMES)
@pytest.mark.parametrize("compressed", [False, True])
def test_rle_extreme_runs_that_still_sum_right_are_refused_or_exact(value, compressed):
    """Runs [v, 6 - v] and the int64-wrapping [v, 2**64 - v + 6] on a 2×3 mask."""
    from engine.formats.rle import encode_counts

    for counts in ([value, 6 - value], [value, 2**64 - value + 6], [2**63 - 1, 2**63 - 1, 8], [0, value, 6 - value]):
        rle = {"size": [2, 3], "counts": encode_counts(counts) if compressed else counts}
        outcome = fuzz_rle.check_rle(rle)
        assert outcome == "error" or (0 <= value <= 6), (counts, outcome)

