"""k-means pose clusters: one feature definition, stable labels for a seed, stored with their fit record,
stale on other data or settings, looked up per window by the dataset."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from motionlab.datafolder import DataFolder
from motionlab.datasets.demo_data import MOTION, make_demo_data
from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.feature_extraction import pose_clusters as pc
from motionlab.training.options import parse_options
from motionlab.utils.errors import MotionlabError


@pytest.fixture(scope="module")
def spk(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp("pc") / "data", n_sequences=12, seconds=6.0, speakers=4)


@pytest.fixture
def data(spk, tmp_path):
    """A private copy: these tests write and break cluster files."""
    return shutil.copytree(spk, tmp_path / "data")


def test_cluster_features_are_pose_velocity_speed():
    pos = np.array([[[0, 0, 0], [1, 0, 0]], [[0, 3, 4], [1, 0, 0]], [[0, 3, 4], [2, 0, 0]]], dtype=float)  # (T=3, J=2, D=3)
    f = pc.cluster_features(pos)
    assert f.shape == (3, 6 + 6 + 2)
    np.testing.assert_array_equal(f[:, :6], pos.reshape(3, 6))
    np.testing.assert_array_equal(f[0, 6:], 0)  # a sequence start has no velocity
    np.testing.assert_array_equal(f[1, 6:12], [0, 3, 4, 0, 0, 0])
    np.testing.assert_array_equal(f[:, 12:], [[0, 0], [5, 0], [0, 1]])  # speed per joint
    # a window inside the sequence, given the frame before it, has the sequence's velocities
    np.testing.assert_array_equal(pc.cluster_features(pos[1:], previous=pos[0]), f[1:])
    with pytest.raises(MotionlabError, match="do not split into joints of 4"):
        pc.cluster_features(np.zeros((3, 6)), joint_dims=4)


def test_labels_are_stable_across_runs_with_the_same_seed(spk, tmp_path):
    a, b = shutil.copytree(spk, tmp_path / "a"), shutil.copytree(spk, tmp_path / "b")
    ca, cb = pc.fit(DataFolder(a), MOTION, 5, seed=3), pc.fit(DataFolder(b), MOTION, 5, seed=3)
    np.testing.assert_array_equal(ca.centres, cb.centres)
    stored = pc.load(DataFolder(a), MOTION, 5)
    np.testing.assert_array_equal(stored.centres, ca.centres)
    df = DataFolder(a)
    raw = df.scaler(MOTION).inverse_transform(np.asarray(df.open_feature("demo_08", MOTION)))
    labels = stored.labels(raw)
    np.testing.assert_array_equal(labels, cb.labels(raw))
    assert labels.dtype == np.int64 and labels.shape == (len(raw),) and set(np.unique(labels)) <= set(range(5))
    assert len(np.unique(labels)) >= 2
    # the stored file is plain arrays plus JSON settings and the fit record (no pickle)
    with np.load(df.pose_clusters_path(MOTION, 5), allow_pickle=False) as z:
        settings = json.loads(str(z["settings"]))
        assert z["centres"].shape == (5, 12 + 12 + 4) and list(z["sequences"]) == df.split("train")
    assert settings == {"definition": "pose_velocity_speed", "version": 1, "feature": MOTION, "k": 5, "seed": 3, "normalize": "none",
                        "joint_dims": 3, "max_frames": pc.MAX_FRAMES, "units": "raw (scaler undone)"}


def test_stale_on_other_data_or_other_settings(data, caplog):
    df = DataFolder(data)
    assert pc.state(df, MOTION, 4) == "none"
    pc.load_or_fit(df, MOTION, 4)
    assert pc.state(df, MOTION, 4) == "current"
    assert pc.state(df, MOTION, 4, seed=1).startswith("stale: fitted with other settings: seed 0 (wanted 1)")
    assert "normalize 'none' (wanted 'zscore')" in pc.state(df, MOTION, 4, normalize="zscore")
    # other data: one train array rewritten
    a = np.array(df.open_feature("demo_00", MOTION))
    np.save(df.feature_path("demo_00", MOTION), a[::-1].copy())
    assert pc.state(df, MOTION, 4) == f"stale: demo_00.{MOTION}.npy changed after it was fitted"
    with caplog.at_level(logging.WARNING, logger="motionlab.feature_extraction.pose_clusters"):
        pc.load_or_fit(df, MOTION, 4)
    assert f"refitting {df.pose_clusters_path(MOTION, 4)} (demo_00.{MOTION}.npy changed after it was fitted)" in caplog.text
    assert pc.state(df, MOTION, 4) == "current"
    # other split: a sequence moved from test to train
    splits = df.splits()
    splits["train"].append(splits["test"].pop())
    df.write_splits(splits)
    assert pc.state(df, MOTION, 4).startswith("stale: it was not fitted on demo_11")
    (data / f"{MOTION}.pose_clusters_k4.npz").write_bytes(b"junk")
    with pytest.raises(MotionlabError, match="pose_clusters_k4.npz: not motionlab pose clusters"):
        pc.state(df, MOTION, 4)


def test_zscore_normalisation_is_stored_and_applied(data):
    df = DataFolder(data)
    c = pc.fit(df, MOTION, 3, normalize="zscore")
    raw = np.concatenate([df.scaler(MOTION).inverse_transform(np.asarray(df.open_feature(q, MOTION))) for q in df.split("train")[:1]])
    feats = pc.cluster_features(raw, 3)
    np.testing.assert_allclose(c.features(raw), (feats - c.mean) / c.scale)
    assert c.scale.shape == (28,) and not np.allclose(c.scale, 1)
    with pytest.raises(MotionlabError, match=r"normalize must be one of \['none', 'zscore'\]"):
        pc.fit(df, MOTION, 3, normalize="minmax")


def _opt(data, *extra):
    return parse_options(["--hparams_file", "demo", "--data_dir", str(data), "--no-make_demo_data", "--output_lengths", "6", *extra])


def test_dataset_items_carry_window_labels(data, caplog):
    with caplog.at_level(logging.INFO, logger="motionlab.feature_extraction.pose_clusters"):
        ds = MultimodalDataset(_opt(data, "--pose_clusters", "4"), "val")
    assert "pose clusters: fitting k-means (k=4, seed 0) on the train split of 'demo_motion'" in caplog.text
    df = DataFolder(data)
    clusters = pc.load(df, MOTION, 4)
    for i in (0, 5, len(ds) - 1):
        item = ds[i]
        k, s = ds.window(i)
        assert item["pose_cluster"].dtype == np.int64 and item["pose_cluster"].shape == (6,)
        raw = df.scaler(MOTION).inverse_transform(np.asarray(df.open_feature(ds.seq_ids[k], MOTION)))
        whole = clusters.labels(raw)  # labels of the whole sequence, sliced at the output window (offset 10)
        np.testing.assert_array_equal(item["pose_cluster"], whole[s + 10 : s + 16])
    assert "pose_cluster" not in MultimodalDataset(_opt(data), "val")[0]
    with pytest.raises(MotionlabError, match="--pose_clusters: expected 0"):
        MultimodalDataset(_opt(data, "--pose_clusters", "-2"), "val")


def test_extract_clusters_cli(data, capsys):
    from motionlab.cli import main

    path = DataFolder(data).pose_clusters_path(MOTION, 3)
    assert main(["extract", "clusters", str(data), "--k", "3"]) == 0
    assert f"{path}: fitted" in capsys.readouterr().out
    assert main(["extract", "clusters", str(data), "--k", "3"]) == 0
    assert f"{path}: already current" in capsys.readouterr().out
    assert main(["extract", "clusters", str(data), "--k", "3", "--seed", "2"]) == 0
    assert "refitted (stale: fitted with other settings: seed 0 (wanted 2))" in capsys.readouterr().out
    assert main(["extract", "clusters", str(data), "--feature", "nope"]) == 2
    assert "nope.meta.json: missing; --feature must name a feature" in capsys.readouterr().err


def test_cluster_f1_and_stored_clusters_share_the_feature():
    """Scorer's ClusterF1 centres are fit_sequence_clusters of cluster_features: the same code as the stored clusters."""
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(50, 2, 3)) + 10 * (i % 2) for i in range(4)]
    centres = pc.fit_sequence_clusters(seqs, k=2, seed=0)
    x = np.concatenate([pc.cluster_features(s) for s in seqs])
    np.testing.assert_array_equal(centres, pc.fit_kmeans(x, 2, 0))
    from motionlab.analysis import metrics as M

    np.testing.assert_array_equal(M.fit_pose_clusters(x, k=2, seed=0), centres)
    f1 = M.ClusterF1(centres)
    f1.update(pc.cluster_features(seqs[0]), pc.cluster_features(seqs[0]))
    assert float(f1.compute()) == 1.0
