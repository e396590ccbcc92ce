"""The bad-input corpus (issue 13): every case feeds one broken file or value to a real ``motionlab``
command and checks it exits non-zero with a one-line message naming the file or option and what was
expected, prints no traceback and leaves the folder exactly as it was (file list and contents hashed
before and after).

Most cases run the CLI's ``main(argv)`` in this process (a subprocess costs ~3 s of imports each);
``test_subprocess_matches_in_process`` runs a handful through ``python -m motionlab.cli`` and checks
the same exit code and message, so the in-process harness stands for the real command. The hand-made
files are in ``tests/bad_inputs/``; the others are made at run time from good files (and from the
real BVH files under ``MOTIONLAB_REAL_DATA`` when it is set).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from motionlab import cli
from motionlab.datasets.demo_data import make_demo_data
from test_prepare import HEADER, write_take

BAD = Path(__file__).parent / "bad_inputs"
REPO = Path(__file__).resolve().parents[1]


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``motionlab argv`` in this process: (exit code, stderr). An escaping exception is a crash: its
    traceback goes into the returned stderr, as the real command would print it."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse errors
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - anything else is the traceback a user would see
            traceback.print_exc(file=err)
            code = 1
    return code, err.getvalue()


def run_subprocess(argv: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "motionlab.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    return p.returncode, p.stderr


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its contents (an empty folder left behind is no file)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- shared good inputs (made once)


@dataclass
class Base:
    root: Path
    data: Path  # a demo data folder
    exp: Path  # experiments dir with a trained experiment "e" on ``data``


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    root = tmp_path_factory.mktemp("corpus_base")
    data = make_demo_data(root / "data", n_sequences=6, seconds=4.0)
    code, err = run_in_process(["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(root / "exp"), "--experiment_name", "e",
                                "--max_epochs", "1", "--limit_train_batches", "1", "--limit_val_batches", "1", "--no-progress_bar"])
    assert code == 0, err
    return Base(root, data, root / "exp")


def take(folder: Path, name: str = "a") -> Path:
    """One good 3-second take (BVH + wav) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_take(folder, name, 3)
    return folder


def real_bvh_text() -> str:
    """A real BVH file when MOTIONLAB_REAL_DATA is set (its first 60 frames), else the generated take's."""
    root = os.environ.get("MOTIONLAB_REAL_DATA")
    if root and (Path(root) / "bvh/cmu_01_01.bvh").exists():
        lines = (Path(root) / "bvh/cmu_01_01.bvh").read_text().splitlines()
        cut = next(i for i, line in enumerate(lines) if line.strip().startswith("Frame Time"))
        frames = lines[cut + 1: cut + 61]
        head = [("Frames: 60" if line.strip().startswith("Frames:") else line) for line in lines[: cut + 1]]
        return "\n".join(head + frames) + "\n"
    return HEADER + "MOTION\nFrames: 3\nFrame Time: 0.033333\n" + "0 5 0 0 0 0 1 2 3 4 5 6 7 8 9\n" * 3


PREPARE = ["--fps", "20", "--n_mels", "16", "--no_progress"]


def prepare_with(write: Callable[[Path], None], *extra: str):
    """A case: a folder with one take, ``write`` breaks it, then ``motionlab prepare``."""
    def setup(tmp: Path, base: Base):
        folder = take(tmp / "takes")
        write(folder)
        return ["prepare", str(folder), *PREPARE, *extra]
    return setup


def bvh(text_or_bytes):
    def write(folder: Path):
        p = folder / "a.bvh"
        p.write_bytes(text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes)
    return write


def mutate_bvh(fn: Callable[[str], str]):
    def write(folder: Path):
        p = folder / "a.bvh"
        p.write_text(fn(p.read_text()))
    return write


def keypoints(arr_or_bytes):
    """Replace the take's BVH by a keypoint array (frames x joints x 2|3 expected)."""
    def write(folder: Path):
        (folder / "a.bvh").unlink()
        p = folder / "a.npy"
        if isinstance(arr_or_bytes, bytes):
            p.write_bytes(arr_or_bytes)
        else:
            np.save(p, arr_or_bytes, allow_pickle=True)
    return write


def words(text: str):
    def write(folder: Path):
        (folder / "a.words.csv").write_text(text)
    return write


def audio(fn: Callable[[Path], None]):
    def write(folder: Path):
        fn(folder / "a.wav")
    return write


def copy_data(tmp: Path, base: Base) -> Path:
    data = tmp / "data"
    shutil.copytree(base.data, data)
    return data


TRAIN = ["--max_epochs", "1", "--limit_train_batches", "1", "--limit_val_batches", "1", "--no-progress_bar"]


def train_on(change: Callable[[Path], None], *extra: str):
    """A case: a copy of the demo data, ``change`` breaks it, then ``motionlab train`` on it."""
    def setup(tmp: Path, base: Base):
        data = copy_data(tmp, base)
        change(data)
        return ["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp / "exp"), "--experiment_name", "x", *TRAIN, *extra]
    return setup


def train_args(*extra: str):
    def setup(tmp: Path, base: Base):
        return ["train", "--hparams_file", "demo", "--data_dir", str(base.data), "--experiments_dir", str(tmp / "exp"), "--experiment_name", "x", *TRAIN, *extra]
    return setup


def hparams(text: str, name: str = "bad.yaml", extra_files: dict[str, str] | None = None):
    def setup(tmp: Path, base: Base):
        (tmp / "hp").mkdir()
        (tmp / "hp" / name).write_text(text)
        for other, body in (extra_files or {}).items():
            (tmp / "hp" / other).write_text(body)
        return ["train", "--hparams_file", str(tmp / "hp" / name), "--data_dir", str(base.data), "--experiments_dir", str(tmp / "exp"), *TRAIN]
    return setup


def feature_file(data: Path, kind: str = "motion", seq: str = "demo_00") -> Path:
    return data / f"{seq}.demo_{kind}.npy"


def copy_exp(tmp: Path, base: Base) -> Path:
    exp = tmp / "exp"
    shutil.copytree(base.exp, exp)
    return exp


def first_test_seq(base: Base) -> str:
    return (base.data / "base_filenames_test.txt").read_text().split()[0]


def generate_with(change: Callable[[Path, Path], None], *extra: str, checkpoint: str | None = None):
    """A case: a copy of the trained experiment, ``change(exp_dir/e, tmp)`` breaks it, then generate."""
    def setup(tmp: Path, base: Base):
        exp = copy_exp(tmp, base)
        change(exp / "e", tmp)
        argv = ["generate", "e", first_test_seq(base), "--experiments_dir", str(exp), "--output_folder", str(tmp / "out"), *extra]
        if checkpoint:
            argv += ["--checkpoint", str(tmp / checkpoint)]
        return argv
    return setup


def bad_checkpoint(name: str, make: Callable[[Path, Path], None]):
    """A checkpoint file ``tmp/name`` made by ``make(good_ckpt, path)``, given to generate."""
    def change(e: Path, tmp: Path):
        good = next((e / "checkpoints").glob("*.ckpt"))
        make(good, tmp / name)
    return generate_with(change, checkpoint=name)


def truncate(good: Path, path: Path):
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def random_bytes(good: Path, path: Path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def other_model(good: Path, path: Path):
    """A checkpoint of another network: its weights named and shaped differently."""
    ck = torch.load(good, weights_only=True)
    ck["state_dict"] = {"encoder.weight": torch.zeros(3, 3), "encoder.bias": torch.zeros(3)}
    torch.save(ck, path)


def other_shapes(good: Path, path: Path):
    """The same names with other shapes (a differently sized model of the same kind)."""
    ck = torch.load(good, weights_only=True)
    ck["state_dict"] = {k: torch.zeros(*(s + 1 for s in v.shape)) if v.ndim else v for k, v in ck["state_dict"].items()}
    torch.save(ck, path)


def not_a_checkpoint(good: Path, path: Path):
    torch.save({"weights": torch.zeros(2)}, path)


def write_saved(text: str):
    """Overwrite the experiment's saved options (hparams.yaml)."""
    def change(e: Path, tmp: Path):
        (e / "hparams.yaml").write_text(text)
    return change


def edit_saved(key: str, value):
    def change(e: Path, tmp: Path):
        saved = yaml.safe_load((e / "hparams.yaml").read_text())
        saved[key] = value
        (e / "hparams.yaml").write_text(yaml.safe_dump(saved))
    return change


def edit_hparams(key: str | None, value):
    """Change one setting recorded in the experiment's checkpoints (``key`` None: replace them all)."""
    def change(e: Path, tmp: Path):
        for p in (e / "checkpoints").glob("*.ckpt"):
            ck = torch.load(p, weights_only=True)
            if key is None:
                ck["hyper_parameters"] = value
            else:
                ck["hyper_parameters"]["opt"][key] = value
            torch.save(ck, p)
    return change


def remove(rel: str):
    def change(e: Path, tmp: Path):
        p = e / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return change


def save_npy(arr, allow_pickle=False):
    def change(data: Path):
        np.save(feature_file(data), arr, allow_pickle=allow_pickle)
    return change


def edit_meta(fn: Callable[[dict], object]):
    def change(data: Path):
        p = data / "demo_motion.meta.json"
        meta = json.loads(p.read_text())
        out = fn(meta)
        p.write_text(out if isinstance(out, str) else json.dumps(meta))
    return change


def write_split(name: str, text: str | None):
    def change(data: Path):
        p = data / f"base_filenames_{name}.txt"
        p.unlink() if text is None else p.write_text(text)
    return change


def wav_samples(y: np.ndarray, sr: int = 16000, subtype: str | None = None):
    return audio(lambda p: sf.write(p, y, sr, subtype=subtype))


# ---------------------------------------------------------------- the corpus
# (id, setup(tmp, base) -> argv, words the message must contain: "{tmp}" stands for the case folder)

T = "{tmp}/takes/a"  # the broken take's files
CASES = [
    # BVH
    ("bvh-truncated-rows", prepare_with(mutate_bvh(lambda t: t[: t.rindex("\n", 0, len(t) - 2)])), [f"{T}.bvh", "truncated"]),
    ("bvh-empty", prepare_with(bvh("")), [f"{T}.bvh"]),
    ("bvh-no-motion", prepare_with(bvh(HEADER)), [f"{T}.bvh", "MOTION"]),
    ("bvh-word-in-frames", prepare_with(mutate_bvh(lambda t: t.replace("\n0.", "\nabc ", 1))), [f"{T}.bvh"]),
    ("bvh-nan-values", prepare_with(mutate_bvh(lambda t: t.replace("\n0.", "\nnan 0.", 1).replace(" ", " ", 1))), [f"{T}.bvh"]),
    ("bvh-zero-frame-time", prepare_with(mutate_bvh(lambda t: t.replace("Frame Time: 0.03333333", "Frame Time: 0"))), [f"{T}.bvh", "Frame Time"]),
    ("bvh-channel-count", prepare_with(mutate_bvh(lambda t: t.replace("CHANNELS 6", "CHANNELS 7", 1))), [f"{T}.bvh", "CHANNELS"]),
    ("bvh-unknown-channel", prepare_with(mutate_bvh(lambda t: t.replace("Zrotation Xrotation Yrotation", "Zrotation Xrotation Wrotation", 1))), [f"{T}.bvh", "Wrotation"]),
    ("bvh-unbalanced-braces", prepare_with(mutate_bvh(lambda t: t.replace("}\nMOTION", "MOTION"))), [f"{T}.bvh"]),
    ("bvh-negative-frames", prepare_with(mutate_bvh(lambda t: re.sub(r"Frames: \d+", "Frames: -5", t))), [f"{T}.bvh", "Frames"]),
    ("bvh-random-bytes", prepare_with(bvh(np.random.default_rng(1).bytes(2000))), [f"{T}.bvh"]),
    ("bvh-hand-made-no-root", prepare_with(bvh((BAD / "no_root.bvh").read_bytes())), [f"{T}.bvh", "line 2: JOINT outside"]),
    ("bvh-real-cut-in-header", prepare_with(bvh(real_bvh_text()[: real_bvh_text().index("MOTION") // 2])), [f"{T}.bvh"]),
    # audio
    ("audio-not-audio", prepare_with(audio(lambda p: p.write_bytes(b"RIFF....not audio at all"))), [f"{T}.wav"]),
    ("audio-empty-file", prepare_with(audio(lambda p: p.write_bytes(b""))), [f"{T}.wav"]),
    ("audio-no-samples", prepare_with(wav_samples(np.zeros(0, np.float32))), [f"{T}.wav"]),
    ("audio-nan-samples", prepare_with(wav_samples(np.full(48000, np.nan, np.float32), subtype="FLOAT")), [f"{T}.wav"]),
    ("audio-too-short-strict", prepare_with(wav_samples(np.zeros(800, np.float32)), "--strict"), ["a", "--strict"]),
    # keypoints
    ("keypoints-rank-2", prepare_with(keypoints(np.zeros((60, 17))), "--keypoints_fps", "20"), [f"{T}.npy", "(frames, joints, 2 or 3), found (60, 17)"]),
    ("keypoints-4-coords", prepare_with(keypoints(np.zeros((60, 17, 4))), "--keypoints_fps", "20"), [f"{T}.npy", "2 or 3), found (60, 17, 4)"]),
    ("keypoints-object-array", prepare_with(keypoints(np.array([{"a": 1}], dtype=object)), "--keypoints_fps", "20"), [f"{T}.npy"]),
    ("keypoints-all-nan", prepare_with(keypoints(np.full((60, 17, 2), np.nan)), "--keypoints_fps", "20"), [f"{T}.npy"]),
    ("keypoints-not-npy", prepare_with(keypoints(b"\x93NUMPY garbage"), "--keypoints_fps", "20"), [f"{T}.npy"]),
    # word timings
    ("words-missing-column", prepare_with(words("word,start\nhello,0.1\n")), [f"{T}.words.csv", "end"]),
    ("words-end-before-start", prepare_with(words("word,start,end\nhello,0.9,0.2\n")), [f"{T}.words.csv"]),
    ("words-not-a-number", prepare_with(words("word,start,end\nhello,zero,0.5\n")), [f"{T}.words.csv", "zero"]),
    ("words-negative-time", prepare_with(words("word,start,end\nhello,-1,0.5\n")), [f"{T}.words.csv"]),
    ("words-hand-made-binary", prepare_with(lambda f: (f / "a.words.csv").write_bytes((BAD / "binary.words.csv").read_bytes())), [f"{T}.words.csv", "not UTF-8"]),
    # feature arrays and their metadata (train on a data folder)
    ("feature-rank-1", train_on(save_npy(np.zeros(80, np.float32))), ["demo_00.demo_motion.npy"]),
    ("feature-strings", train_on(save_npy(np.array([["a"] * 8] * 80))), ["demo_00.demo_motion.npy"]),
    ("feature-nan", train_on(save_npy(np.full((80, 8), np.nan, np.float32))), ["demo_00.demo_motion.npy", "NaN"]),
    ("feature-object-array", train_on(save_npy(np.array([{"x": 1}], dtype=object), allow_pickle=True)), ["demo_00.demo_motion.npy"]),
    ("feature-truncated-npy", train_on(lambda d: feature_file(d).write_bytes(feature_file(d).read_bytes()[:200])), ["demo_00.demo_motion.npy"]),
    ("feature-wrong-dims", train_on(lambda d: np.save(feature_file(d), np.zeros((80, 3), np.float32))), ["demo_00.demo_motion.npy"]),
    ("meta-not-json", train_on(edit_meta(lambda m: "{not json")), ["demo_motion.meta.json"]),
    ("meta-dims-string", train_on(edit_meta(lambda m: m.update(dims="many"))), ["demo_motion.meta.json", "dims"]),
    ("meta-is-a-list", train_on(edit_meta(lambda m: "[1, 2]")), ["demo_motion.meta.json"]),
    ("feature-missing", train_on(lambda d: feature_file(d).unlink()), ["demo_00.demo_motion.npy"]),
    # split files
    ("split-unknown-sequence", train_on(write_split("train", "demo_00\nnobody_99\n")), ["nobody_99"]),
    ("split-empty-train", train_on(write_split("train", "")), ["base_filenames_train.txt"]),
    ("split-missing-train", train_on(write_split("train", None)), ["base_filenames_train.txt"]),
    ("split-binary", train_on(lambda d: (d / "base_filenames_val.txt").write_bytes(b"\xff\xfe\x00bad")), ["base_filenames_val.txt"]),
    # hparams YAML
    ("hparams-unknown-key", hparams("base: demo\nbatch_sise: 4\n"), ["bad.yaml", "batch_sise"]),
    ("hparams-wrong-type", hparams("base: demo\nbatch_size: lots\n"), ["bad.yaml", "batch_size"]),
    ("hparams-base-loop", hparams("base: other.yaml\n", extra_files={"other.yaml": "base: bad.yaml\n"}), ["loops"]),
    ("hparams-missing-base", hparams("base: no_such_file\n"), ["no_such_file"]),
    ("hparams-yaml-syntax", hparams("base: demo\nlr: [1, 2\n"), ["bad.yaml"]),
    ("hparams-not-a-mapping", hparams("- 1\n- 2\n"), ["bad.yaml"]),
    ("hparams-list-for-int", hparams("base: demo\nbatch_size: [4, 8]\n"), ["bad.yaml", "batch_size", "expected an integer"]),
    ("hparams-bool-for-int", hparams("base: demo\nmax_epochs: true\n"), ["bad.yaml", "max_epochs", "expected an integer, got True"]),
    # command-line values
    ("cli-int-not-a-number", train_args("--batch_size", "abc"), ["--batch_size", "abc"]),
    ("cli-batch-size-zero", train_args("--batch_size", "0"), ["--batch_size"]),
    ("cli-unknown-model", train_args("--model", "no_such_model"), ["no_such_model"]),
    ("cli-missing-data-dir", lambda tmp, base: ["train", "--hparams_file", "demo", "--data_dir", str(tmp / "nowhere"), "--experiments_dir", str(tmp / "exp"), *TRAIN], ["{tmp}/nowhere"]),
    ("cli-missing-hparams-file", lambda tmp, base: ["train", "--hparams_file", str(tmp / "none.yaml"), "--data_dir", str(base.data), "--experiments_dir", str(tmp / "exp")], ["none.yaml"]),
    ("cli-prepare-fps-zero", lambda tmp, base: ["prepare", str(take(tmp / "takes")), "--fps", "0", "--no_progress"], ["fps > 0", "found 0"]),
    ("cli-prepare-missing-folder", lambda tmp, base: ["prepare", str(tmp / "nothing"), "--no_progress"], ["{tmp}/nothing"]),
    ("cli-generate-unknown-experiment", lambda tmp, base: ["generate", "nobody", "--experiments_dir", str(copy_exp(tmp, base)), "--output_folder", str(tmp / "out")], ["nobody"]),
    ("cli-generate-unknown-sequence", lambda tmp, base: ["generate", "e", "no_seq", "--experiments_dir", str(copy_exp(tmp, base)), "--output_folder", str(tmp / "out")], ["no_seq"]),
    ("cli-negative-max-length", lambda tmp, base: ["generate", "e", first_test_seq(base), "--experiments_dir", str(copy_exp(tmp, base)), "--output_folder", str(tmp / "out"), "--max_length", "-3"], ["--max_length"]),
    # checkpoints
    ("ckpt-truncated", bad_checkpoint("cut.ckpt", truncate), ["{tmp}/cut.ckpt"]),
    ("ckpt-random-bytes", bad_checkpoint("noise.ckpt", random_bytes), ["{tmp}/noise.ckpt"]),
    ("ckpt-other-model", bad_checkpoint("other.ckpt", other_model), ["{tmp}/other.ckpt"]),
    ("ckpt-other-shapes", bad_checkpoint("sizes.ckpt", other_shapes), ["{tmp}/sizes.ckpt"]),
    ("ckpt-no-state-dict", bad_checkpoint("plain.ckpt", not_a_checkpoint), ["{tmp}/plain.ckpt", "not a readable motionlab checkpoint"]),
    ("ckpt-missing", generate_with(lambda e, tmp: None, checkpoint="gone.ckpt"), ["{tmp}/gone.ckpt"]),
    ("pretrained-from-random-bytes", lambda tmp, base: (random_bytes(None, tmp / "noise.ckpt"), ["train", "--hparams_file", "demo", "--data_dir", str(base.data), "--experiments_dir", str(tmp / "exp"), "--pretrained_from", str(tmp / "noise.ckpt"), *TRAIN])[1], ["{tmp}/noise.ckpt"]),
    # experiment folders
    ("exp-no-checkpoints", generate_with(remove("checkpoints")), ["checkpoint"]),
    ("exp-empty-checkpoints", generate_with(lambda e, tmp: [p.unlink() for p in (e / "checkpoints").glob("*.ckpt")]), ["checkpoint"]),
    ("exp-not-a-folder", lambda tmp, base: ((tmp / "exp").mkdir(), (tmp / "exp" / "e").write_text("x"), ["generate", "e", "--experiments_dir", str(tmp / "exp")])[2], ["e"]),
    ("exp-ckpt-unknown-model", generate_with(edit_hparams("model", "no_such_model")), ["no_such_model"]),
    ("exp-missing-hparams-yaml", generate_with(remove("hparams.yaml")), ["hparams.yaml"]),
    ("exp-hparams-yaml-not-yaml", generate_with(write_saved("model: [transformer\n")), ["hparams.yaml", "YAML does not parse"]),
    ("exp-hparams-yaml-is-a-list", generate_with(write_saved("- 1\n")), ["hparams.yaml"]),
    ("exp-hparams-yaml-unknown-model", generate_with(edit_saved("model", "no_such_model")), ["no_such_model"]),
    ("exp-hparams-yaml-wrong-type", generate_with(edit_saved("dhid", "wide")), ["hparams.yaml", "dhid"]),
    ("exp-hparams-yaml-data-dir-gone", generate_with(edit_saved("data_dir", "/nonexistent/data")), ["/nonexistent/data"]),
    ("exp-ckpt-hparams-not-a-dict", generate_with(edit_hparams(None, [1, 2])), ["ckpt"]),
    ("evaluate-no-checkpoints", lambda tmp, base: (remove("checkpoints")(copy_exp(tmp, base) / "e", tmp), ["evaluate", "e", "--experiments_dir", str(tmp / "exp"), "--output_folder", str(tmp / "eval")])[1], ["checkpoint"]),
]


@pytest.mark.parametrize("name, setup, expected", CASES, ids=[c.values[0] if hasattr(c, "values") else c[0] for c in CASES])
def test_bad_input_is_refused_cleanly(name, setup, expected, base, tmp_path):
    argv = setup(tmp_path, base)
    before = snapshot(tmp_path)
    code, err = run_in_process(argv)
    after = snapshot(tmp_path)
    assert "Traceback" not in err, f"{name}: traceback\n{err}"
    assert code != 0, f"{name}: exit 0\n{err}"
    message = err.strip().splitlines()[-1] if err.strip() else ""
    for word in expected:
        assert word.replace("{tmp}", str(tmp_path)) in err, f"{name}: {word!r} not in the message: {err}"
    assert message.startswith("motionlab") or message.startswith("usage") or "error" in message, err
    assert after == before, f"{name}: files changed: {sorted(set(after.items()) ^ set(before.items()))}"


SUBPROCESS_CASES = ["bvh-truncated-rows", "hparams-unknown-key", "cli-int-not-a-number", "ckpt-random-bytes"]


def test_subprocess_matches_in_process(base, tmp_path):
    """The real ``python -m motionlab.cli`` gives the same exit code and the same last line as the
    in-process harness for a few cases of different kinds (run in one go to keep it short)."""
    by_name = {c[0]: c for c in CASES if not hasattr(c, "values")}
    for name in SUBPROCESS_CASES:
        _, setup, _ = by_name[name]
        a, b = tmp_path / f"{name}_a", tmp_path / f"{name}_b"
        a.mkdir(), b.mkdir()
        code_in, err_in = run_in_process(setup(a, base))
        argv = setup(b, base)
        before = snapshot(b)
        code_sub, err_sub = run_subprocess(argv, cwd=REPO)
        assert snapshot(b) == before and "Traceback" not in err_sub, err_sub
        last_in = err_in.strip().splitlines()[-1].replace(str(a), "<tmp>")
        last_sub = err_sub.strip().splitlines()[-1].replace(str(b), "<tmp>")
        assert (code_sub, last_sub) == (code_in, last_in), name
