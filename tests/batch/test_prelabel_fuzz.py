"""Fuzzing ``OUT/manifest.json`` of `framewise prelabel` (issue 17, item 10): mutated real
manifests (the JSON mutations of `fuzz_mutations`, plus extreme numbers: 10**400, 1e308,
nan, inf, negative, bool) must give a result or one `FramewiseError` with a one-line
message, never another exception; and no project a valid done entry describes is lost.

Two levels: the driver's manifest path (read, plan every media, write back) on many
inputs, and the whole command (`engine.cli.main.main`) on a few. ``FRAMEWISE_FUZZ=long``
runs 50× more with random seeds, as the other fuzz tests.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
import fuzz_mutations as fm
from test_prelabel_safety import prelabel, tiny_clip, tiny_mask

from engine.errors import FramewiseError

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"
SCALE = 50 if LONG else 1
EXTREME = (10**400, -(10**400), 1e308, -1e308, math.nan, math.inf, -math.inf, 2**53 + 1, -1, True, 0.5, "", "a\x00b",
           "\ud800", [], {}, None, "a" * 5000, "0" * 64, "../../x", "done", "running")
OUTCOMES: dict[str, int] = {}


def fuzz_settings(examples: int):
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not LONG, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> tuple[list[str], Path, Path]:
    """A finished run of two tiny media: (media, masks folder, OUT); prelabel's output is
    not looked at (``_Quiet`` stands in for capsys)."""
    root = tmp_path_factory.mktemp("seed")
    media = [str(tiny_clip(root / "media" / name)) for name in ("a", "b")]
    for name in ("a", "b"):
        tiny_mask(root / "masks" / name / "00000.png")
    out = root / "out"
    assert prelabel(_Quiet(), *media, "--init-masks", root / "masks", "--out", out)[0] == 0
    return media, root / "masks", out


class _Quiet:
    """capsys for a module fixture: the output is not looked at."""

    @staticmethod
    def readouterr():
        return type("Captured", (), {"out": "", "err": ""})()


_extreme_step = st.tuples(st.just("extreme"), st.integers(0, 2**31), st.integers(0, len(EXTREME) - 1), st.just(""))
PLANS = st.lists(st.one_of(st.tuples(st.sampled_from(fm.OPS["json"]), st.integers(0, 2**31), st.integers(0, 2**31),
                                     st.text(max_size=12)), _extreme_step), min_size=1, max_size=3)


def mutate(data: bytes, plan: list[tuple]) -> bytes:
    """``extreme`` steps (a node set to an extreme value; nan and inf are written as JSON's
    NaN / Infinity, which Python reads) on the seed, then the other steps with
    `fuzz_mutations.mutate_text` (which may nest deeply: so it comes last)."""
    extreme = [step for step in plan if step[0] == "extreme"]
    if extreme:
        tree = json.loads(data)
        for _, a, b, _ in extreme:
            path = fm._nodes(tree)[a % len(fm._nodes(tree))]
            if not path:
                continue
            parent = tree
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = copy.deepcopy(EXTREME[b])
        data = json.dumps(tree).encode("utf-8", "surrogatepass")
    ordinary = [step for step in plan if step[0] != "extreme"]
    return fm.mutate_text("json", data, ordinary) if ordinary else data


def case(seed, work: Path, plan: list[tuple]) -> Path:
    out = work / "out"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(seed[2], out)
    (out / "manifest.json").write_bytes(mutate((seed[2] / "manifest.json").read_bytes(), plan))
    return out


def projects(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/project.sqlite"))}


def count(outcome: str) -> None:
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


@fuzz_settings(200)
@given(plan=PLANS)
def test_fuzz_manifest_read_plan_write(seed, tmp_path_factory, plan):
    """The driver's whole manifest path: read, a plan per media (label counts of done
    projects included), the manifest written back and read again unchanged."""
    from engine.batch.manifest import plan_run, read_manifest

    out = case(seed, tmp_path_factory.getbasetemp() / "fuzz_read", plan).resolve()
    before = projects(out)
    try:
        manifest = read_manifest(out)
        keys = {entry["media"]: entry["key"] for entry in json.loads((seed[2] / "manifest.json").read_text())["media"].values()}
        plans = plan_run(out, manifest, seed[0], lambda media, name: keys[media])
        manifest.write(out)
        again = read_manifest(out)
    except FramewiseError as exc:
        assert "\n" not in str(exc) and "manifest.json" in str(exc), str(exc)
        count("refused")
    else:
        assert again.entries == manifest.entries and again.bad.keys() == manifest.bad.keys()
        for plan in plans:
            assert plan.action in ("run", "skip", "fail") and (plan.result is None) == (plan.action == "run")
            if plan.result is not None:
                assert "\n" not in (plan.result.error or "")
        count("planned:" + "+".join(sorted(p.action for p in plans)))
    assert projects(out) == before


@fuzz_settings(30)
@given(plan=PLANS)
def test_fuzz_manifest_through_the_command(seed, tmp_path_factory, plan, capsys):
    """`framewise prelabel` on a mutated manifest: exit 0 or 2 with one-line messages; a
    project is only ever replaced by a run that records it done with its label count."""
    out = case(seed, tmp_path_factory.getbasetemp() / "fuzz_cli", plan)
    before = projects(out)
    code, text, err = prelabel(capsys, *seed[0], "--init-masks", seed[1], "--out", out)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and all(line.startswith(("prelabel: ", "framewise: error: "))
                                          for line in err.splitlines()), err
    count(f"exit {code}")
    after = projects(out)
    assert set(before) <= set(after)  # no project removed
    entries = json.loads((out / "manifest.json").read_text())["media"] if code == 0 or text else {}
    for name in (n for n in before if after[n] != before[n]):
        entry = entries[name]
        assert entry["status"] == "done" and entry["labels"] == 2, (name, entry)


def test_zz_report_outcomes():
    """Prints the outcome counts (``pytest -s``): the figures of docs/RELIABILITY.md."""
    print("\nprelabel manifest fuzz outcomes:", json.dumps(OUTCOMES, sort_keys=True))
