#!/usr/bin/env bash
# C-DiffGAN and its baselines on the real Dance with Melody takes: the four dance styles as the
# continual sequence cha-cha -> rumba -> waltz -> tango, k = 7 and 28 windows per later style, three
# seeds, every stage time-limited. The README's continual-learning table comes from this script.
#
#   REAL=/path/to/real-data WORK=/tmp/cl bash benchmarks/real_continual.sh
#
# The takes are cut in time (--split_mode time: the last 15 % of every take is its test part), so
# every style is evaluated on held-out music of its own takes. A style classifier trained on the
# train parts scores style accuracy. One process at a time with OMP_NUM_THREADS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${REAL:-${MOTIONLAB_REAL_DATA:-/work/shared/data/real}}
WORK=${WORK:-/tmp/cl}
EXP=$WORK/exp
DATA=$WORK/dance_time
STAGE_MINUTES=${STAGE_MINUTES:-0.5}   # per stage
METHODS=${METHODS:-"cdiffgan no_shift diffgan buffer"}
KS=${KS:-"7 28"}
SEEDS=${SEEDS:-1,2,3}
STYLES=${STYLES:-cha-cha,rumba,waltz,tango}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
ML="$PY -m motionlab.cli"
run() { echo "+ $*" >&2; "$@"; }
mkdir -p "$EXP"

if [ ! -f "$DATA/keypoints3d_cr_25fps.scaler.npz" ]; then
  run $ML import dance_melody "$REAL/paired/dance_with_melody" "$DATA" --split_mode time
  run $ML extract audio "$DATA" --fps 25
  run $ML extract scale "$DATA"
fi
[ -f "$EXP/dance_style/checkpoints/last.ckpt" ] || run ./script_train.sh analysis/style_classifier --data_dir "$DATA" \
  --input_modalities keypoints3d_cr_25fps --output_modalities keypoints3d_cr_25fps --experiments_dir "$EXP" --experiment_name dance_style \
  --max_time_minutes 3 --no-progress_bar --overwrite

for k in $KS; do
  for m in $METHODS; do
    run ./script_continual.sh dance/cdiffgan_cpu --data_dir "$DATA" --styles "$STYLES" --k_shot "$k" --seeds "$SEEDS" --method "$m" \
      --experiments_dir "$EXP" --style_model dance_style --max_time_minutes "$STAGE_MINUTES" --no-progress_bar
  done
done
run $PY benchmarks/continual_table.py "$EXP"/continual_*/report.json --json "$WORK/real_continual.json"
