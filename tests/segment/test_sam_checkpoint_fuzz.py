"""SAM checkpoints with extreme tensors (issue #17, see `fuzz_extremes`): stride-0 and
overlapping views, huge sizes over tiny storages, sparse tensors, unusual dtypes.

Each file gives one `CheckpointError` line naming it, or tensors holding no more than the
file stores (so the float conversion `load_sam` does allocates at most twice the file).
A 20 MB checkpoint whose stride-0 fp16 view asked for a 10.7 GB allocation started this.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parents[1]))
import fuzz_extremes as fx

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"
OUTCOMES: Counter = Counter()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
@settings(max_examples=120 * (50 if LONG else 1), deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plan=fx.checkpoint_plan_strategy())
def test_fuzz_checkpoints_with_extreme_tensors(work, plan):
    path = work / "sam.pth"
    fx.build_checkpoint(path, plan)
    OUTCOMES[fx.check_checkpoint_case(path, f"plan {plan!r}")] += 1


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
@pytest.mark.parametrize(
    "plan, words",
    [
        ((0, 1, [(6, 0), (6, 0)], 0, 0), "has stride 0 in dimension 0 (shape (2147483648, 2147483648))"),
        ((1, 4, [(2, 1), (2, 1)], 0, 0), "has stride 1 in dimension 1 (shape (2, 2))"),  # overlapping
        ((0, 64, [(5, 1)], 0, 1), "truncated or not a torch checkpoint"),  # 10**5 over 64: torch refuses
        ((7, 4, [(2, 1)], 0, 0), "has dtype complex64"),
        ((1, 4, [(4, 1)], 0, 3), "is a sparse_coo tensor, not a dense one"),
        ((1, 8, [(2, 1), (3, 2)], 0, 2), "its 3 tensors declare 176 bytes over 160 bytes of stored data"),
    ],
)
def test_each_kind_of_extreme_tensor_is_refused_naming_it(work, plan, words):
    from engine.errors import CheckpointError
    from engine.segment.sam.checkpoint import read_state_dict

    path = work / "case.pth"
    fx.build_checkpoint(path, plan)
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(str(path))
    assert str(path) in str(caught.value) and words in str(caught.value), str(caught.value)


def test_the_checkpoint_fuzzer_saw_both_outcomes():
    print(f"checkpoint fuzz outcomes: {dict(OUTCOMES)}")
    assert OUTCOMES["error"] > 0 and OUTCOMES["ok"] > 0, OUTCOMES
