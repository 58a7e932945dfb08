"""The SAM 2 propagation benchmarks run: the GPU script's CPU smoke mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sam2")

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_benchmark_runs_on_the_cpu_in_smoke_mode(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, "benchmarks/sam2_gpu.py", "--device", "cpu", "--frames", "5",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["variant"] == "tiny" and row["image_size"] == 128 and row["frames"] == 5
    assert row["ours_fps"] > 0 and row["bare_fps"] > 0 and row["ratio"] > 0
