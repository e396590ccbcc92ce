"""Shared fixtures: small demo data, the real-data folder, running the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# BVH files of the real data folder that the tests rely on (relative to MOTIONLAB_REAL_DATA).
REAL_BVH = [
    "bvh/cmu_01_01.bvh",
    "bvh/AV_8Walk_Meredith_HVHA_Rep1.bvh",
    "bvh/test_mocapbank.bvh",
    "bvh/test_freebvh.bvh",
    "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.bvh",
]


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real through MOTIONLAB_REAL_DATA: mandatory when set, skipped when unset."""
    p = os.environ.get("MOTIONLAB_REAL_DATA")
    if not p:
        pytest.skip("MOTIONLAB_REAL_DATA not set")
    path = Path(p)
    assert path.is_dir(), f"MOTIONLAB_REAL_DATA={p} is not a folder"
    return path


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo data folder (8 sequences of 8 s) shared by the tests that only read it."""
    from motionlab.datasets.demo_data import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("demo") / "data", n_sequences=8, seconds=8.0)


def run_cli(*args, cwd=None, timeout=600, env=None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args`` and return the completed process (text output)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=full_env)


def run_script(script: str, *args, timeout=600) -> subprocess.CompletedProcess:
    """Run one of the repository's shell scripts (script_train.sh, script_generate.sh)."""
    return subprocess.run(["bash", str(REPO / script), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))
