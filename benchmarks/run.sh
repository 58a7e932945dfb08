#!/usr/bin/env bash
# All benchmarks in one command (`make bench`): speed with ratios against bare baselines
# measured in the same run, and the interactive-segmentation evaluation against GrabCut.
# Results land in benchmarks/results/*.json; docs/BENCHMARKS.md quotes the latest ones.
set -euo pipefail
cd "$(dirname "$0")/.."
FW=".venv/bin/framewise"
DATA="${FRAMEWISE_DATA:-../shared/data}"
OUT=benchmarks/results
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE

for what in decode click encode; do $FW bench "$what" --out "$OUT/bench_$what.json"; done
.venv/bin/python benchmarks/ui_stall.py --out "$OUT/ui_stall.json"
# SAM 2 memory propagation against sam2's video predictor (random weights: speed and memory)
if .venv/bin/python -c "import sam2" 2>/dev/null; then
  .venv/bin/python benchmarks/sam2_propagation.py speed --frames 16 --repeats 4 --out "$OUT/sam2_speed.json"
  .venv/bin/python benchmarks/sam2_propagation.py rss --out "$OUT/sam2_rss.json"  # 2,000 frames: ~13 min
fi
if [ -d "$DATA/iseg-dev" ]; then
  $FW eval iseg "$DATA/iseg-dev" --out "$OUT/iseg_dev.json"
  $FW eval iseg "$DATA/davis16-train10" --out "$OUT/iseg_davis10.json"
  # propagation: settings chosen on davis16-train10, confirmed on davis16-train-b
  $FW eval vos "$DATA/davis16-train10" --out "$OUT/vos_davis10.json"
  $FW eval vos "$DATA/davis16-train-b" --out "$OUT/vos_davis_b.json"
  .venv/bin/python benchmarks/propagate_speed.py --data "$DATA" --out "$OUT/propagate_speed.json"
  # filling between two keyframes from both ends, fused, against each run alone
  .venv/bin/python benchmarks/fill_between.py "$DATA/davis16-train10" --out "$OUT/fill_davis10.json"
  .venv/bin/python benchmarks/fill_between.py "$DATA/davis16-train-b" --out "$OUT/fill_davis_b.json"
  # the simulated annotator (sequential and keyframe modes vs clicking every frame): ~25 min a set
  $FW eval effort "$DATA/davis16-train10" --out "$OUT/effort_davis10.json"
  $FW eval effort "$DATA/davis16-train-b" --out "$OUT/effort_davis_b.json"
else
  echo "benchmarks: $DATA/iseg-dev not found; skipping the NoC evaluation" >&2
fi
