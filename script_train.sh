#!/usr/bin/env bash
# ./script_train.sh <hparams> [--any_option value ...]
# <hparams> is a name under hparams/ (demo, demo/transflower, ...) or a path to a YAML file.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 <hparams> [options]" >&2; exit 2; fi
cd "$(dirname "$0")"
[ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3
hp=$1; shift
exec "$PY" -m motionlab.training.train --hparams_file "$hp" "$@"
