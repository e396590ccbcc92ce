#!/usr/bin/env bash
# ./script_generate.sh <experiment> [<sequence>] [--generate_bvh] [--generate_video] [--data_dir D] ...
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 <experiment> [<sequence>] [options]" >&2; exit 2; fi
cd "$(dirname "$0")"
[ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3
exec "$PY" -m motionlab.inference.generate "$@"
