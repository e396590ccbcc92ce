"""motionlab evaluate: baselines, reading other systems' outputs, the report; end to end on the demo data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionlab.analysis import baselines as bl
from motionlab.datafolder import DataFolder
from motionlab.utils.errors import MotionlabError


def test_mean_pose_and_other_clip_baselines(small_demo):
    folder = DataFolder(small_demo)
    feature = "demo_motion"
    mean = bl.train_mean(folder, feature)
    raw = np.concatenate([bl.unscale(folder, feature, np.asarray(folder.open_feature(q, feature))) for q in folder.split("train")])
    np.testing.assert_allclose(mean, raw.mean(0), rtol=1e-4, atol=1e-4)  # the train split's mean, in data units
    out = bl.mean_pose_baseline(folder, feature, {"a": 5, "b": 3})
    assert out["a"].shape == (5, 12) and np.all(out["b"] == mean)
    truth = {"x": np.arange(10.0)[:, None], "y": np.arange(100.0, 104.0)[:, None], "z": np.arange(200.0, 207.0)[:, None]}
    other = bl.other_clip_baseline(truth)
    assert other["x"][:, 0].tolist() == [100, 101, 102, 103, 100, 101, 102, 103, 100, 101]  # y, tiled to x's length
    assert other["y"][:, 0].tolist() == [200, 201, 202, 203] and other["z"][:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert bl.other_clip_baseline({"x": truth["x"]})["x"][:, 0].tolist() == [5, 6, 7, 8, 9, 0, 1, 2, 3, 4]  # one take: itself, half a take late
    with pytest.raises(MotionlabError, match="at least one test sequence"):
        bl.other_clip_baseline({})


def test_nearest_neighbour_retrieves_the_train_motion_of_matching_audio(small_demo):
    folder = DataFolder(small_demo)
    q = folder.split("train")[0]
    arrays = folder.load_sequence(q, ["demo_audio", "demo_motion"])
    audio = arrays["demo_audio"][16:56]  # 40 frames of a train sequence's audio, starting on a retrieval window (hop = window / 2 = 8)
    out = bl.nearest_baseline(folder, "demo_audio", "demo_motion", {"t": audio}, window=16)["t"]
    assert out.shape == (40, 12)
    want = bl.unscale(folder, "demo_motion", arrays["demo_motion"][16:56])
    np.testing.assert_allclose(out[:32], want[:32], rtol=1e-5, atol=1e-5)  # windows at 0 and 16 are found exactly
    np.testing.assert_allclose(out[24:], want[24:], rtol=1e-5, atol=1e-5)  # the last one, aligned with the end (frames 24..39)


@pytest.fixture
def truth():
    return {"s1": np.zeros((10, 3), np.float32), "s2": np.ones((8, 3), np.float32)}


def write(folder, name, arr):
    folder.mkdir(exist_ok=True)
    np.save(folder / f"{name}.m.generated.npy", arr)


def test_generated_dir_is_read_and_checked(tmp_path, truth):
    from motionlab.analysis.evaluate import read_generated_dir

    d = tmp_path / "gen"
    write(d, "s1", np.zeros((10, 3), np.float32))
    with pytest.raises(MotionlabError, match=r"no s2\.m\.generated\.npy \(missing 1 of the split's 2 sequences: s2\)"):
        read_generated_dir(d, "m", truth)
    write(d, "s2", np.zeros((7, 3), np.float32))
    with pytest.raises(MotionlabError, match=r"s2\.m\.generated\.npy: expected 8 frames x 3 features like the ground truth, found shape \(7, 3\)"):
        read_generated_dir(d, "m", truth)
    write(d, "s2", np.full((2, 8, 3), np.nan, np.float32))
    with pytest.raises(MotionlabError, match=r"s2\.m\.generated\.npy: contains 48 NaN/inf values"):
        read_generated_dir(d, "m", truth)
    write(d, "s2", np.ones((2, 8, 3), np.float32))  # two samples are fine
    write(d, "s3", np.ones((8, 3), np.float32))
    with pytest.raises(MotionlabError, match=r"s3\.m\.generated\.npy is not a sequence of the split"):
        read_generated_dir(d, "m", truth)
    (d / "s3.m.generated.npy").unlink()
    out = read_generated_dir(d, "m", truth)
    assert out["s1"].shape == (10, 3) and out["s2"].shape == (2, 8, 3)
    with pytest.raises(MotionlabError, match="folder not found"):
        read_generated_dir(tmp_path / "nope", "m", truth)


@pytest.fixture(scope="module")
def demo16(tmp_path_factory):
    """Demo data with two test sequences (the other-clip baseline needs two)."""
    from motionlab.datasets.demo_data import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("demo16") / "data", n_sequences=16, seconds=8.0)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, demo16):
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    exp = tmp_path_factory.mktemp("exp")
    common = ["--data_dir", str(demo16), "--experiments_dir", str(exp), "--no-progress_bar"]
    train(parse_options(["--hparams_file", "demo", *common, "--max_epochs", "2"]))
    train(parse_options(["--hparams_file", "demo/fgd_autoencoder", *common, "--experiment_name", "fgd"]))
    return exp


def test_evaluate_scores_model_and_baselines_with_the_same_metrics(demo_runs, tmp_path):
    from motionlab.analysis.evaluate import main

    out = tmp_path / "eval"
    assert main(["demo", "--experiments_dir", str(demo_runs), "--output_folder", str(out), "--fgd_model", "fgd", "--no-progress"]) == 0
    result = json.loads((out / "demo" / "metrics.json").read_text())
    systems = result["systems"]
    assert list(systems) == ["model", "mean_pose", "other_clip", "nearest", "ground_truth"]
    gt, mean, model = systems["ground_truth"], systems["mean_pose"], systems["model"]
    assert gt["l1"] == 0 and gt["mpjpe"] == 0 and gt["pck@0.1"] == 1 and gt["speed_ratio"] == pytest.approx(1)
    assert gt["fid_pose"] == pytest.approx(0, abs=1e-6) and gt["fgd"] == pytest.approx(0, abs=1e-6)
    assert mean["fgd"] == max(s["fgd"] for s in systems.values())  # the frozen mean pose is the furthest from real motion
    assert mean["speed_ratio"] == pytest.approx(0, abs=1e-6)
    assert model["l1"] < mean["l1"] and model["fgd"] < mean["fgd"]  # the trained demo model beats the mean pose
    assert set(model) >= {"mse", "pck@0.2", "fid_pose_normalised", "fid_kinetic", "speed_w1", "acceleration_w1", "speed_hellinger", "spatial_norm", "diversity", "cluster_f1", "jerk_ratio"}
    report = (out / "demo" / "report.md").read_text()
    assert "| metric | better | model | mean_pose | other_clip | nearest | ground_truth |" in report and "| fgd — " in report and "| ↓ |" in report
    assert "Command: `motionlab evaluate demo --experiments_dir" in report and "beat metrics skipped" in report
    for png in ("speed_histogram.png", "acceleration_histogram.png", "per_joint_error.png"):
        assert (out / "demo" / png).stat().st_size > 1000 and f"]({png})" in report


def test_evaluate_scores_a_folder_of_other_outputs_and_refuses_untrained_networks(demo_runs, tmp_path, demo16):
    from motionlab.analysis.evaluate import main

    folder = DataFolder(demo16)
    gen_dir = tmp_path / "theirs"
    gen_dir.mkdir()
    for q in folder.split("test"):
        np.save(gen_dir / f"{q}.demo_motion.generated.npy", bl.unscale(folder, "demo_motion", np.asarray(folder.open_feature(q, "demo_motion"))))
    out = tmp_path / "eval"
    assert main(["demo", "--experiments_dir", str(demo_runs), "--output_folder", str(out), "--generated_dir", str(gen_dir), "--baselines", "mean_pose", "--no-progress"]) == 0
    systems = json.loads((out / "demo" / "metrics.json").read_text())["systems"]
    assert list(systems) == ["model", "mean_pose"] and systems["model"]["mpjpe"] == pytest.approx(0, abs=1e-4)  # the ground truth scored as a system
    with pytest.raises(MotionlabError, match=r"has no checkpoint.*train it first: \./script_train\.sh analysis/fgd_autoencoder"):
        from motionlab.analysis.evaluate import parse_args, run

        (Path(demo_runs) / "untrained").mkdir(exist_ok=True)
        (Path(demo_runs) / "untrained" / "hparams.yaml").write_text((Path(demo_runs) / "fgd" / "hparams.yaml").read_text())
        run(parse_args(["demo", "--experiments_dir", str(demo_runs), "--output_folder", str(out / "x"), "--fgd_model", "untrained"]))
    assert not (out / "x").exists()  # nothing written when refused


def test_evaluate_on_the_real_speech_take_has_beat_and_foot_metrics(real_data, tmp_path):
    from motionlab.analysis.evaluate import main
    from motionlab.feature_extraction.prepare import PrepareSettings, prepare
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    data = tmp_path / "data"
    data.mkdir()
    for p in (real_data / "paired" / "zeggs_067_speech_2").iterdir():
        (data / p.name).symlink_to(p)
    prepare(data, PrepareSettings(fps=20, audio_features=["mel", "onset", "beats"], n_mels=16, split_mode="time", val_fraction=0.15, test_fraction=0.15), progress=False)
    train(parse_options([
        "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path / "exp"), "--experiment_name", "z", "--no-make_demo_data",
        "--input_modalities", "audio_mel16_onset_beats_20fps,bvh_expmap_cr_20fps", "--output_modalities", "bvh_expmap_cr_20fps",
        "--max_epochs", "1", "--limit_train_batches", "5", "--no-progress_bar",
    ]))
    out = tmp_path / "eval"
    assert main(["z", "--experiments_dir", str(tmp_path / "exp"), "--output_folder", str(out), "--motion_beats", "maxima", "--no-progress"]) == 0
    systems = json.loads((out / "z" / "metrics.json").read_text())["systems"]
    gt, mean = systems["ground_truth"], systems["mean_pose"]
    assert systems["other_clip"]["speed_ratio"] == pytest.approx(1.0, rel=0.05)  # one test sequence: its own motion, shifted
    # (ranking by beat metrics needs more than this 10-s test part: tests/test_real_alignment.py checks it on the whole take)
    for key in ("beat_consistency", "bas_music_beats", "bas_motion_beats", "pfc"):
        assert 0 <= gt[key] < float("inf"), key
    assert gt["pfc"] < systems["model"]["pfc"]  # real feet stay planted; an untrained model's slide
    assert mean["speed_ratio"] < 0.1 and gt["mpjpe"] == 0  # the mean frame still carries the mean root velocity: a slow glide
    assert (out / "z" / "beat_timeline.png").stat().st_size > 1000
