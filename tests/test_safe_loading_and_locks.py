"""Untrusted files and concurrent runs (issue 13): a planted pickle is refused with a message and never
unpickled (the payload would create a marker file); a second training of a busy experiment is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlab import cli
from motionlab.datasets.demo_data import make_demo_data


class Payload:
    """Unpickling this creates ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pickles")
    data = make_demo_data(root / "data", n_sequences=6, seconds=4.0)
    assert cli.main(["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(root / "exp"), "--experiment_name", "e",
                     "--max_epochs", "1", "--limit_train_batches", "2", "--limit_val_batches", "1", "--no-progress_bar"]) == 0
    return root, data


def refused(capsys, argv, marker: Path, *words):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0 and not marker.exists(), err
    assert "Traceback" not in err and all(w in err for w in words), err
    return err


def test_a_pickled_checkpoint_is_refused_by_generate_and_pretrained_from(trained, tmp_path, capsys):
    root, data = trained
    marker = tmp_path / "ran"
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload(marker)}, bad)
    seq = (data / "base_filenames_test.txt").read_text().split()[0]
    refused(capsys, ["generate", "e", seq, "--experiments_dir", str(root / "exp"), "--checkpoint", str(bad), "--output_folder", str(tmp_path / "out")], marker, str(bad))
    refused(capsys, ["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path / "exp"), "--pretrained_from", str(bad),
                     "--max_epochs", "1", "--no-progress_bar"], marker, str(bad))


def test_pickled_arrays_in_a_data_folder_are_refused(trained, tmp_path, capsys):
    root, data = trained
    marker = tmp_path / "ran"
    evil = np.array([Payload(marker)], dtype=object)
    for target in ("feature", "scaler", "clusters"):
        copy = tmp_path / target
        shutil.copytree(data, copy)
        if target == "feature":
            path = copy / f"{(copy / 'base_filenames_train.txt').read_text().split()[0]}.demo_motion.npy"
            np.save(path, evil, allow_pickle=True)
        elif target == "scaler":
            path = copy / "demo_motion.scaler.npz"
            np.savez(path, mean=evil, scale=evil)
        else:
            path = copy / "demo_motion.pose_clusters_k4.npz"
            np.savez(path, format=np.array("motionlab.pose_clusters"), centres=evil, settings=evil)
        if target in ("feature", "clusters"):  # training opens every feature array and the stored pose clusters
            argv = ["train", "--hparams_file", "demo", "--data_dir", str(copy), "--experiments_dir", str(tmp_path / f"exp_{target}"), "--max_epochs", "1",
                    "--no-progress_bar", "--pose_clusters", "4"]
        else:  # generation reads the scaler to write motion in the data's units
            seq = (copy / "base_filenames_test.txt").read_text().split()[0]
            argv = ["generate", "e", seq, "--experiments_dir", str(root / "exp"), "--data_dir", str(copy), "--output_folder", str(tmp_path / "out")]
        refused(capsys, argv, marker, path.name)


def test_a_second_training_of_the_same_experiment_is_refused_naming_the_first(trained, tmp_path, capsys):
    import os

    from motionlab.training.experiment_lock import experiment_lock

    root, data = trained
    argv = ["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path), "--experiment_name", "busy", "--max_epochs", "1", "--no-progress_bar"]
    with experiment_lock(tmp_path / "busy"):  # another training holds it
        assert cli.main(argv) != 0
        err = capsys.readouterr().err
        assert f"experiment {tmp_path / 'busy'} is being trained by another process {os.getpid()} on " in err and "Traceback" not in err
        assert not (tmp_path / "busy" / "checkpoints").exists()
    # released (as the OS does when the holder dies): the same command trains
    assert cli.main(argv + ["--limit_train_batches", "1", "--limit_val_batches", "1"]) == 0
    # a refused run leaves no empty experiment folder behind
    with experiment_lock(tmp_path / "gone"):
        pass
    assert not (tmp_path / "gone").exists()


def test_ctrl_c_writes_last_checkpoint_and_says_how_to_resume(trained, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root, data = trained
    exp = tmp_path / "stop"
    argv = [sys.executable, "-m", "motionlab.cli", "train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path),
            "--experiment_name", "stop", "--max_epochs", "1000", "--no-progress_bar", "--limit_val_batches", "1"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    last = exp / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:
        time.sleep(0.2)
    first = torch.load(last, weights_only=True)["global_step"]
    time.sleep(1.5)  # into the next epochs
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert "Traceback" not in err, err[-2000:]
    assert "training interrupted at epoch" in err and "continue with the same command and --resume" in err, err[-1000:]
    step = torch.load(last, weights_only=True)["global_step"]
    assert step > first and f"step {step};" in err
    assert not (exp / "checkpoints" / "last.ckpt.tmp").exists()


def test_a_second_prepare_of_the_same_folder_is_refused_while_the_first_writes(tmp_path, capsys):
    from motionlab.feature_extraction.prepare.cli import prepare_lock

    data = make_demo_data(tmp_path / "data", n_sequences=8, seconds=4.0)
    before = {p.name: p.read_bytes() for p in sorted(data.iterdir())}
    with prepare_lock(data):  # another prepare is writing the folder
        for argv in (["prepare", str(data)], ["extract", "audio", str(data)], ["extract", "scale", str(data)]):
            assert cli.main(argv) != 0
            err = capsys.readouterr().err
            assert f"{data}: another motionlab prepare/extract is writing this folder" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in sorted(data.iterdir())} == before  # nothing touched, no lock file left
    assert cli.main(["extract", "scale", str(data)]) == 0  # released (as when the holder exits or dies)


def test_a_full_disk_during_generation_keeps_the_previous_outputs(trained, tmp_path, capsys, monkeypatch):
    """Generation writes atomically: ENOSPC half-way through the motion array or the BVH is one message naming
    the file, and the previous generation's files stay whole (no temporary left behind)."""
    import errno
    import os

    root, data = trained
    seq = (data / "base_filenames_test.txt").read_text().split()[0]
    argv = ["generate", "e", seq, "--experiments_dir", str(root / "exp"), "--output_folder", str(tmp_path / "out"), "--max_length", "40"]
    assert cli.main(argv) == 0
    out = tmp_path / "out" / "e"
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def half_then_enospc(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", half_then_enospc)
    capsys.readouterr()
    assert cli.main(argv + ["--random_seed", "7"]) != 0
    err = capsys.readouterr().err
    assert "could not write: no space left on device (the previous file is kept)" in err and str(out) in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_full_disk_during_prepare_names_the_file_and_leaves_only_whole_files(tmp_path, monkeypatch):
    """Every array is written atomically: ENOSPC in the middle of a prepare is one MotionlabError naming the
    file, no temporary is left, every file on disk is whole (the previous version or the new one), and the
    same prepare run again once there is space completes."""
    import errno
    import os

    from test_prepare import settings, write_take

    from motionlab.feature_extraction.prepare.run import prepare
    from motionlab.utils.errors import MotionlabError

    for i in range(3):
        write_take(tmp_path, f"take{i}", 4, seed=i)
    prepare(tmp_path, settings(), progress=False)
    real_save, calls = np.save, []

    def enospc_on_the_fourth(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:
            with open(path, "wb") as f:
                f.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(np, "save", enospc_on_the_fourth)
    with pytest.raises(MotionlabError, match="could not write: no space left on device"):
        prepare(tmp_path, settings(), progress=False, replace_existing=True)
    monkeypatch.undo()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"
    for p in tmp_path.glob("*.npy"):
        np.load(p)  # whole
    assert not prepare(tmp_path, settings(), progress=False).up_to_date  # the interrupted prepare is redone, not trusted
