"""Feature-extraction speed: BVH load time per MB, audio features as multiples of real time on
one core, and the wall time of ``motionlab prepare`` on the real paired take. Prints JSON.

    MOTIONLAB_REAL_DATA=../shared/data/real python benchmarks/features.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_core():
    """Pin BLAS/numba threads and the process to one core, so 'x real time' means per core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def best_of(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    one_core()
    from motionlab.feature_extraction.audio import AudioFeatureSettings, extract_audio_file, load_audio
    from motionlab.feature_extraction.bvh import load_bvh
    from motionlab.feature_extraction.prepare import PrepareSettings, prepare

    real = Path(os.environ.get("MOTIONLAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
    if not real.is_dir():
        print(f"set MOTIONLAB_REAL_DATA to the real data folder ({real} not found)", file=sys.stderr)
        return 2
    out: dict = {"bvh": {}, "audio": {}, "prepare": {}}
    for p in sorted(real.rglob("*.bvh")):
        mb = p.stat().st_size / 2**20
        s = best_of(lambda: load_bvh(p))
        out["bvh"][p.name] = {"mb": round(mb, 2), "load_s": round(s, 4), "s_per_mb": round(s / mb, 4)}

    settings = AudioFeatureSettings(features=["mel", "onset", "beats"], fps=20, sr=22050, n_mels=80)
    full = AudioFeatureSettings(features=["mel", "mfcc", "chroma", "onset", "beats", "downbeats", "flux", "rms"], fps=20, sr=22050, n_mels=80)
    extract_audio_file(real / "audio" / "speech" / "librispeech_198-209-0000.hq.ogg", settings)  # warm up numba
    for p in [real / "paired" / "zeggs_067_speech_2" / "067_Speech_2_x_1_0.wav", *sorted((real / "audio" / "music").glob("*.ogg"))]:
        y, sr = load_audio(p)
        dur = len(y) / sr
        row = {"seconds": round(dur, 2)}
        for name, st in (("mel_onset_beats", settings), ("all_features", full)):
            s = best_of(lambda: extract_audio_file(p, st), repeat=2)
            row[f"{name}_x_realtime"] = round(dur / s, 1)
        out["audio"][p.name] = row

    with tempfile.TemporaryDirectory() as tmp:
        for p in (real / "paired" / "zeggs_067_speech_2").iterdir():
            shutil.copy(p, Path(tmp) / p.name)
        t = time.perf_counter()
        summary = prepare(tmp, PrepareSettings(fps=20), progress=False)
        out["prepare"]["zeggs_067_speech_2"] = {"wall_s_in_process": round(time.perf_counter() - t, 2), "seconds_of_data": round(summary.seconds, 1), "frames": summary.frames}
    with tempfile.TemporaryDirectory() as tmp:  # a user's first run: new process, numba compiles librosa's beat tracker
        for p in (real / "paired" / "zeggs_067_speech_2").iterdir():
            shutil.copy(p, Path(tmp) / p.name)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "motionlab.cli", "prepare", tmp, "--no_progress"], check=True, capture_output=True)
        out["prepare"]["zeggs_067_speech_2"]["wall_s_cli_new_process"] = round(time.perf_counter() - t, 2)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
