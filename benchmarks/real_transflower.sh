#!/usr/bin/env bash
# Transflower on the real takes, as in the README's "Measured on real data" table: Dance with Melody
# (10 takes, keypoints at 25 fps; test DANCE_R_3 + DANCE_W_3, val DANCE_C_8) and the ZEGGS speech take
# (20 fps, split in time: the last 15 % is the test part). Each model trains 10 minutes; each FGD
# autoencoder 3 minutes. Writes everything under $OUT (default /tmp/motionlab_real_transflower).
#   MOTIONLAB_REAL_DATA=../shared/data/real bash benchmarks/real_transflower.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${MOTIONLAB_REAL_DATA:?set MOTIONLAB_REAL_DATA to the real-data folder}
OUT=${OUT:-/tmp/motionlab_real_transflower}
ML="${PYTHON:-python} -m motionlab.cli"
EXP="--experiments_dir $OUT/exp --no-progress_bar"
mkdir -p "$OUT"

# dance
$ML import dance_melody "$REAL/paired/dance_with_melody" "$OUT/dance" --val_takes DANCE_C_8 --test_takes DANCE_R_3,DANCE_W_3
$ML extract audio "$OUT/dance" --fps 25 --no_progress
$ML extract scale "$OUT/dance"
DANCE="--data_dir $OUT/dance --input_modalities audio_mel80_onset_beats_25fps,keypoints3d_cr_25fps --output_modalities keypoints3d_cr_25fps"
./script_train.sh dance/transflower_cpu $DANCE $EXP --experiment_name dance_transflower
./script_train.sh analysis/fgd_autoencoder --data_dir "$OUT/dance" $EXP --experiment_name dance_fgd \
  --input_modalities keypoints3d_cr_25fps --output_modalities keypoints3d_cr_25fps --max_time_minutes 3
./script_evaluate.sh dance_transflower --experiments_dir "$OUT/exp" --fgd_model dance_fgd --output_folder "$OUT/eval" \
  --temperature 0.25 --noise_smoothing 0.85 --no-progress

# gesture
mkdir -p "$OUT/gesture"
for f in "$REAL"/paired/zeggs_067_speech_2/*; do ln -sf "$(realpath "$f")" "$OUT/gesture/"; done
$ML prepare "$OUT/gesture" --fps 20 --split_mode time --val_fraction 0.15 --test_fraction 0.15 --no_progress
./script_train.sh gesture/transflower --data_dir "$OUT/gesture" $EXP --experiment_name gesture_transflower \
  --max_epochs 1000 --max_time_minutes 10 --early_stopping_patience 0
./script_train.sh analysis/fgd_autoencoder --data_dir "$OUT/gesture" $EXP --experiment_name gesture_fgd \
  --input_modalities bvh_expmap_cr_20fps --output_modalities bvh_expmap_cr_20fps --max_time_minutes 3
./script_evaluate.sh gesture_transflower --experiments_dir "$OUT/exp" --fgd_model gesture_fgd --output_folder "$OUT/eval" \
  --motion_beats maxima --temperature 0.6 --noise_smoothing 0.5 --no-progress
echo "reports: $OUT/eval/dance_transflower/report.md $OUT/eval/gesture_transflower/report.md"
