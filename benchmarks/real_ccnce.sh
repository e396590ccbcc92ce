#!/usr/bin/env bash
# CC-NCE on the real ZEGGS take, end to end: the README's "CC-NCE on real speech" table comes from this.
#
#   REAL=/path/to/real-data WORK=/tmp/ccnce bash benchmarks/real_ccnce.sh
#
# The 69-second take is split in time (70 % train, 15 % val, 15 % test). Its words come from
# `motionlab extract text` (a <take>.words.csv or .TextGrid beside the take, else PocketSphinx
# transcription and alignment of the audio, offline). Four CPU-size runs of the same length
# (STEPS optimiser steps each, G and D counted): with the words and the CC-NCE term, with the words and
# no contrastive term, audio only with CC-NCE, audio only with neither; each is evaluated at its last
# checkpoint on the test stretch with the gesture FGD autoencoder trained on the same folder.
# One training at a time with OMP_NUM_THREADS=1 (two threads per process on 2 shared cores are slower).
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${REAL:-${MOTIONLAB_REAL_DATA:-/work/shared/data/real}}
WORK=${WORK:-/tmp/ccnce}
EXP=${EXP:-$WORK/exp}
EVAL=${EVAL:-$WORK/eval}
STEPS=${STEPS:-1000}
DATA=$WORK/gesture
MOTION=bvh_expmap_cr_20fps
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
ML="$PY -m motionlab.cli"
run() { echo "+ $*" >&2; "$@"; }
mkdir -p "$DATA" "$EXP" "$EVAL"

cp -n "$REAL"/paired/zeggs_067_speech_2/*.bvh "$REAL"/paired/zeggs_067_speech_2/*.wav "$DATA"/
run $ML prepare "$DATA" --fps 20 --split_mode time --val_fraction 0.15 --test_fraction 0.15
run $ML extract text "$DATA" --fps 20
[ -f "$EXP/gesture_fgd/checkpoints/last.ckpt" ] || run ./script_train.sh analysis/fgd_autoencoder --data_dir "$DATA" --input_modalities $MOTION --output_modalities $MOTION \
  --experiments_dir "$EXP" --experiment_name gesture_fgd --max_time_minutes 3 --no-progress_bar --overwrite

for run_spec in "words_ccnce:" "words_no_contrastive:--contrastive none" "audio_ccnce:--text_encoder none" "audio_no_contrastive:--text_encoder none --contrastive none"; do
  name=${run_spec%%:*}; extra=${run_spec#*:}
  # shellcheck disable=SC2086
  run ./script_train.sh gesture/ccnce_cpu --data_dir "$DATA" --output_modalities $MOTION --experiments_dir "$EXP" --experiment_name "$name" \
    --max_steps "$STEPS" --num_workers 0 --no-progress_bar --overwrite $extra
  run ./script_evaluate.sh "$name" --experiments_dir "$EXP" --output_folder "$EVAL" --fgd_model gesture_fgd --checkpoint last --motion_beats maxima --no-progress
done
# the table: the model rows of each run, the baselines of the first
$PY - "$EVAL" <<'PYEOF'
import json, sys
from pathlib import Path
cols = ["l1", "fgd", "speed_ratio", "acceleration_ratio", "jerk_ratio", "beat_consistency", "diversity"]
print("| run | " + " | ".join(cols) + " |")
print("|---|" + "---|" * len(cols))
runs = ["words_ccnce", "words_no_contrastive", "audio_ccnce", "audio_no_contrastive"]
for i, name in enumerate(runs):
    systems = json.loads((Path(sys.argv[1]) / name / "metrics.json").read_text())["systems"]
    rows = [(name, systems["model"])] + ([(k, v) for k, v in systems.items() if k != "model"] if i == 0 else [])
    for label, m in rows:
        print(f"| {label} | " + " | ".join(f"{m[c]:.3g}" if isinstance(m.get(c), (int, float)) else "-" for c in cols) + " |")
PYEOF
