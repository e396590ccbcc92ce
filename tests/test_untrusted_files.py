"""Untrusted files, the loaders tests/test_safe_loading_and_locks.py does not reach (issue 13): a pickle
planted where a user may receive a file from someone else — a keypoint take, a motion pipeline's arrays,
a --seed_file, generated arrays and a checkpoint given to evaluate, an SDT clip, a feature-network
checkpoint — is refused with a message naming the file, and the payload (which would create a marker
file when unpickled) never runs.

Every np.load / torch.load of the package (``grep -rn "np.load\\|torch.load" motionlab``) is covered
here or there: datafolder (feature arrays, scaler records), scalers, pose_clusters, keypoints, motion
(pipeline), sdt importer, generate (--seed_file), evaluate (--generated_dir), utils/checkpoints
(generate/evaluate --checkpoint, --pretrained_from, feature networks; C-DiffGAN's --source_checkpoint
uses the same loader).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlab.datafolder import DataFolder
from motionlab.feature_extraction.prepare import PrepareSettings, prepare
from motionlab.utils.errors import MotionlabError
from test_bad_input_corpus import run_in_process
from test_prepare import write_take


class Payload:
    """Unpickling this creates ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil(marker: Path) -> np.ndarray:
    return np.array([Payload(marker)], dtype=object)


def refused(argv, marker: Path, *words):
    code, err = run_in_process(argv)
    assert code != 0 and not marker.exists(), err
    assert "Traceback" not in err and all(w in err for w in words), err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from motionlab.datasets.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("untrusted")
    data = make_demo_data(root / "data", n_sequences=6, seconds=4.0)
    code, err = run_in_process(["train", "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(root / "exp"), "--experiment_name", "e",
                                "--max_epochs", "1", "--limit_train_batches", "1", "--limit_val_batches", "1", "--no-progress_bar"])
    assert code == 0, err
    return root, data


def test_a_pickled_keypoint_take_is_refused_by_prepare(tmp_path):
    marker = tmp_path / "ran"
    write_take(tmp_path, "a", 3)
    (tmp_path / "a.bvh").unlink()
    np.save(tmp_path / "a.npy", evil(marker), allow_pickle=True)
    refused(["prepare", str(tmp_path), "--fps", "20", "--keypoints_fps", "20", "--no_progress"], marker, str(tmp_path / "a.npy"))


def test_pickled_motion_pipeline_arrays_are_refused(tmp_path):
    for i in range(3):
        write_take(tmp_path, f"t{i}", 3, seed=i)
    prepare(tmp_path, PrepareSettings(fps=20, audio_features=["mel"], n_mels=8), progress=False)
    jpath = next(tmp_path.glob("*.pipeline.json"))
    feature = jpath.name[: -len(".pipeline.json")]
    import json

    npath = tmp_path / json.loads(jpath.read_text())["arrays"]
    marker = tmp_path / "ran"
    np.savez(npath, keep=evil(marker), const_values=evil(marker), mean_quats=evil(marker), mean_translations=evil(marker))
    with pytest.raises(MotionlabError, match=npath.name):
        DataFolder(tmp_path).pipeline(feature)
    assert not marker.exists()


def test_a_pickled_seed_file_is_refused_by_generate(trained, tmp_path):
    root, data = trained
    marker, seed = tmp_path / "ran", tmp_path / "seed.npy"
    np.save(seed, evil(marker), allow_pickle=True)
    seq = (data / "base_filenames_test.txt").read_text().split()[0]
    refused(["generate", "e", seq, "--experiments_dir", str(root / "exp"), "--seed_file", str(seed), "--output_folder", str(tmp_path / "out")], marker, str(seed))


def test_pickles_given_to_evaluate_are_refused(trained, tmp_path):
    root, data = trained
    marker = tmp_path / "ran"
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload(marker)}, bad)
    refused(["evaluate", "e", "--experiments_dir", str(root / "exp"), "--checkpoint", str(bad), "--output_folder", str(tmp_path / "eval")], marker, str(bad))
    gen = tmp_path / "generated"
    gen.mkdir()
    for seq in (data / "base_filenames_test.txt").read_text().split():
        np.save(gen / f"{seq}.npy", evil(marker), allow_pickle=True)
    refused(["evaluate", "e", "--experiments_dir", str(root / "exp"), "--generated_dir", str(gen), "--output_folder", str(tmp_path / "eval2")], marker, str(gen))


def test_a_pickled_sdt_clip_is_refused(tmp_path):
    from motionlab.feature_extraction.importers.sdt import _read_clip

    marker, clip = tmp_path / "ran", tmp_path / "clip.npz"
    np.savez(clip, pose=evil(marker), audio=evil(marker))
    with pytest.raises(MotionlabError, match="clip.npz"):
        _read_clip(clip, 16000, 8)
    assert not marker.exists()


def test_a_pickled_feature_network_checkpoint_is_refused(tmp_path):
    from motionlab.analysis.feature_networks import _global_step

    marker, bad = tmp_path / "ran", tmp_path / "fgd.ckpt"
    torch.save({"global_step": Payload(marker)}, bad)
    with pytest.raises(MotionlabError, match="fgd.ckpt"):
        _global_step(bad)
    assert not marker.exists()


def test_the_dataset_reopens_feature_arrays_without_pickle(trained, tmp_path):
    """The training dataset maps the arrays again in each worker: a file swapped for a pickle after the
    checks is still never unpickled."""
    import argparse

    from motionlab.datasets.multimodal_dataset import MultimodalDataset
    from motionlab.training.options import parse_options

    root, data = trained
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    opt = parse_options(["--hparams_file", "demo", "--data_dir", str(copy)])
    ds = MultimodalDataset(opt, "train")
    marker = tmp_path / "ran"
    np.save(copy / f"{ds.seq_ids[0]}.demo_motion.npy", evil(marker), allow_pickle=True)
    ds._arrays = {}
    with pytest.raises((MotionlabError, ValueError)):
        ds[0]
    assert not marker.exists() and isinstance(opt, argparse.Namespace)
