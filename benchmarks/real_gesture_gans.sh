#!/usr/bin/env bash
# The gesture GANs (Speech2Gesture, StAGE, Mix-StAGE) on real data, end to end: the README's
# "gesture GANs on real data" numbers come from this script.
#
#   REAL=/path/to/real-data WORK=/tmp/gan bash benchmarks/real_gesture_gans.sh
#
# Dance: the ten Dance with Melody takes, style = dance style (speakers.json from the importer),
# val DANCE_C_8, test DANCE_R_3 + DANCE_W_3 (tango has one take: it stays in train). A style
# classifier and an FGD autoencoder are trained on the same folder, then each GAN for $MINUTES
# minutes and evaluated on the test takes with style transfer (every test take in every other
# style). Gesture: Speech2Gesture on the ZEGGS take split in time (15 % val, 15 % test).
# Finally benchmarks/real_gesture_gans.py collects the metrics.json files into one table (and
# scores Speech2Gesture, which has no style input, against the same transfer targets).
#
# Every model is evaluated at its last checkpoint: the "best" one is chosen on validation L1, which
# a GAN minimises by standing near the mean pose (best: speed ratio 0.14-0.56, last: 0.82-1.05).
# One training at a time with OMP_NUM_THREADS=1: on a shared 2-core machine, two threads per
# process make torch several times slower. Total: about 50 minutes of training + evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${REAL:-${MOTIONLAB_REAL_DATA:-/work/shared/data/real}}
WORK=${WORK:-/tmp/gan}
EXP=${EXP:-$WORK/exp}
EVAL=${EVAL:-$WORK/eval}
MINUTES=${MINUTES:-10}          # per GAN training
HP_SUFFIX=${HP_SUFFIX:-_cpu}    # "_cpu": hparams/{dance,gesture}/*_cpu.yaml; "" for the paper-size networks (~2 steps/s on 2 cores)
DANCE=$WORK/dance
GESTURE=$WORK/gesture
MOTION=keypoints3d_cr_25fps
AUDIO=audio_mel80_onset_beats_25fps
G_MOTION=bvh_expmap_cr_20fps
G_AUDIO=audio_mel80_onset_beats_20fps
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
ML="$PY -m motionlab.cli"
TRAIN="./script_train.sh"
EVALUATE="./script_evaluate.sh"
mkdir -p "$EXP" "$EVAL"
run() { echo "+ $*" >&2; "$@"; }

# ---------------------------------------------------------------- dance: data (kept when already prepared)
if [ ! -f "$DANCE/$MOTION.scaler.npz" ]; then
  run $ML import dance_melody "$REAL/paired/dance_with_melody" "$DANCE" --val_takes DANCE_C_8 --test_takes DANCE_R_3,DANCE_W_3
  run $ML extract audio "$DANCE" --fps 25
  run $ML extract scale "$DANCE"
fi

# ---------------------------------------------------------------- dance: feature networks (kept when trained)
[ -f "$EXP/dance_style/checkpoints/last.ckpt" ] || run $TRAIN analysis/style_classifier --data_dir "$DANCE" --input_modalities $MOTION --output_modalities $MOTION \
  --experiments_dir "$EXP" --experiment_name dance_style --max_time_minutes 4 --no-progress_bar --overwrite
[ -f "$EXP/dance_fgd/checkpoints/last.ckpt" ] || run $TRAIN analysis/fgd_autoencoder --data_dir "$DANCE" --input_modalities $MOTION --output_modalities $MOTION \
  --experiments_dir "$EXP" --experiment_name dance_fgd --max_time_minutes 3 --no-progress_bar --overwrite

# ---------------------------------------------------------------- dance: the three GANs
for m in speech2gesture stage mixstage; do
  run $TRAIN dance/$m$HP_SUFFIX --data_dir "$DANCE" --input_modalities $AUDIO --output_modalities $MOTION \
    --experiments_dir "$EXP" --experiment_name dance_$m --max_time_minutes "$MINUTES" --num_workers 0 --no-progress_bar --overwrite
done
run $EVALUATE dance_speech2gesture --experiments_dir "$EXP" --output_folder "$EVAL" --fgd_model dance_fgd --style_model dance_style --checkpoint last --no-progress
for m in stage mixstage; do
  run $EVALUATE dance_$m --experiments_dir "$EXP" --output_folder "$EVAL" --fgd_model dance_fgd --style_model dance_style --style_transfer --checkpoint last --no-progress
done
# Speech2Gesture has no style input: its generations, written once, are scored against the same targets
for q in $(cat "$DANCE/base_filenames_test.txt"); do
  run ./script_generate.sh dance_speech2gesture "$q" --experiments_dir "$EXP" --output_folder "$WORK/generated" --checkpoint last --no-progress
done

# ---------------------------------------------------------------- gesture: ZEGGS, one take split in time
mkdir -p "$GESTURE"
cp -n "$REAL"/paired/zeggs_067_speech_2/*.bvh "$REAL"/paired/zeggs_067_speech_2/*.wav "$GESTURE"/
run $ML prepare "$GESTURE" --fps 20 --split_mode time --val_fraction 0.15 --test_fraction 0.15
[ -f "$EXP/gesture_fgd/checkpoints/last.ckpt" ] || run $TRAIN analysis/fgd_autoencoder --data_dir "$GESTURE" --input_modalities $G_MOTION --output_modalities $G_MOTION \
  --experiments_dir "$EXP" --experiment_name gesture_fgd --max_time_minutes 3 --no-progress_bar --overwrite
run $TRAIN gesture/speech2gesture$HP_SUFFIX --data_dir "$GESTURE" --input_modalities $G_AUDIO --output_modalities $G_MOTION \
  --experiments_dir "$EXP" --experiment_name gesture_speech2gesture --max_time_minutes "$MINUTES" --num_workers 0 --no-progress_bar --overwrite
run $EVALUATE gesture_speech2gesture --experiments_dir "$EXP" --output_folder "$EVAL" --fgd_model gesture_fgd --checkpoint last --no-progress

# ---------------------------------------------------------------- the table
run $PY benchmarks/real_gesture_gans.py --experiments_dir "$EXP" --eval_dir "$EVAL" --data_dir "$DANCE" \
  --style_model dance_style --s2g_generated "$WORK/generated/dance_speech2gesture" --json "$WORK/real_gesture_gans.json"
