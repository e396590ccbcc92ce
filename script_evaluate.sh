#!/usr/bin/env bash
# ./script_evaluate.sh <experiment> [--split test] [--generated_dir D] [--fgd_model E] [--baselines ...] ...
# Writes inference/evaluation/<experiment>/: metrics.json, report.md and PNG plots.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 <experiment> [options]" >&2; exit 2; fi
cd "$(dirname "$0")"
[ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3
exec "$PY" -m motionlab.analysis.evaluate "$@"
