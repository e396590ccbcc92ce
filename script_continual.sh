#!/usr/bin/env bash
# ./script_continual.sh <hparams> --styles a,b,c [--k_shot 28] [--seeds 1,2,3] [--method cdiffgan|no_shift|diffgan|buffer|joint] [training options ...]
# Continual few-shot learning over a sequence of styles (C-DiffGAN): = motionlab continual ...
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 <hparams> --styles a,b,c [options]" >&2; exit 2; fi
cd "$(dirname "$0")"
[ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3
exec "$PY" -m motionlab.continual "$@"
