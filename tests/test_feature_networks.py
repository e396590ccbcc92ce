"""The feature networks of evaluation: the FGD autoencoder and the style classifier train through train.py
on the user's data, and load_feature_network refuses every network that would give meaningless numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlab.analysis.feature_networks import classify_windows, cut_windows, embed_windows, load_feature_network
from motionlab.datafolder import DataFolder
from motionlab.dataspec import DataSpec
from motionlab.models.motion_autoencoder_model import MotionAutoencoderModel
from motionlab.models.style_classifier_model import StyleClassifierModel
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError

MOTION = "demo_motion"
POSE = "pose_20fps"


def run(hparams, data, exp_dir, name, *extra):
    opt = parse_options(["--hparams_file", hparams, "--data_dir", str(data), "--experiments_dir", str(exp_dir), "--experiment_name", name, "--no-progress_bar", *extra])
    return opt, train(opt)


@pytest.fixture(scope="module")
def ae(tmp_path_factory, small_demo):
    """The demo FGD autoencoder trained on the small demo data: (experiments dir, options, train result)."""
    exp_dir = tmp_path_factory.mktemp("experiments")
    torch.manual_seed(0)
    opt, result = run("demo/fgd_autoencoder", small_demo, exp_dir, "fgd")
    return exp_dir, opt, result


@pytest.fixture(scope="module")
def speaker_data(tmp_path_factory) -> Path:
    """Two 'speakers' whose motion differs in frequency (slow ~0.6 Hz vs fast ~2.2 Hz sways), 6 dims at 20 fps."""
    rng = np.random.default_rng(0)
    t = np.arange(120) / 20.0
    arrays, speakers, splits = {}, {}, {"train": [], "val": [], "test": []}
    for who, (lo, hi) in {"slow": (0.4, 0.8), "fast": (1.8, 2.6)}.items():
        for i in range(9):
            seq = f"{who}_{i}"
            freq, phase, amp = rng.uniform(lo, hi, 6), rng.uniform(0, 2 * np.pi, 6), rng.uniform(0.5, 1.5, 6)
            arrays[seq] = amp * np.sin(2 * np.pi * freq * t[:, None] + phase) + 0.1 * rng.standard_normal((len(t), 6))
            speakers[seq] = who
            splits["train" if i < 6 else "val" if i == 6 else "test"].append(seq)
    df = DataFolder(tmp_path_factory.mktemp("speakers") / "data")
    df.write_splits(splits)
    df.write_feature(POSE, arrays, fps=20, columns=[f"j{j}_{c}" for j in range(3) for c in "xy"], kind="keypoints", scale=True)
    df.write_speakers(speakers)
    return df.path


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, speaker_data):
    exp_dir = tmp_path_factory.mktemp("experiments")
    torch.manual_seed(0)
    opt, result = run(
        "analysis/style_classifier", speaker_data, exp_dir, "style",
        "--input_modalities", POSE, "--output_modalities", POSE, "--input_lengths", "32", "--output_lengths", "32",
        "--learning_rate", "0.001", "--max_epochs", "4",
    )
    return exp_dir, opt, result


def val_windows(folder, window):
    df = DataFolder(folder)
    return torch.as_tensor(cut_windows([df.open_feature(s, MOTION) for s in df.split("val") + df.split("test")], window, 8))


# ------------------------------------------------------------------------------ autoencoder


def test_autoencoder_trains_and_reconstructs_better_than_untrained(ae, small_demo):
    exp_dir, opt, result = ae
    assert result["global_step"] > 0
    model = load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=small_demo, experiments_dir=exp_dir)
    assert isinstance(model, MotionAutoencoderModel) and model.window == 32
    untrained = MotionAutoencoderModel(opt, model.data_spec).eval()
    w = val_windows(small_demo, 32)
    with torch.no_grad():
        before, after = float(((untrained(w) - w) ** 2).mean()), float(((model(w) - w) ** 2).mean())
    assert after < 0.7 * before, (before, after)
    z = model.encode(w[:5])
    assert z.shape == (5, opt.latent_dim) == (5, 16)
    with pytest.raises(MotionlabError, match=r"expected windows of shape \(B, 32, 12\).*got \(2, 16, 12\)"):
        model.encode(w[:2, :16])


def test_autoencoder_generates_a_reconstruction_of_a_whole_sequence(ae, small_demo):
    exp_dir, _, _ = ae
    model = load_feature_network("fgd", kind="autoencoder", feature=MOTION, experiments_dir=exp_dir)
    seq = DataFolder(small_demo).open_feature(DataFolder(small_demo).split("test")[0], MOTION)
    out = model.generate({MOTION: torch.as_tensor(np.array(seq))})[MOTION]
    assert out.shape == seq.shape
    assert float(((out.numpy() - seq) ** 2).mean()) < float((seq**2).mean())  # closer to the motion than a still mean pose


def test_embed_windows_cuts_sequences_and_refuses_short_ones(ae, small_demo):
    exp_dir, _, _ = ae
    model = load_feature_network("fgd", kind="autoencoder", feature=MOTION, experiments_dir=exp_dir)
    seq = np.array(DataFolder(small_demo).open_feature("demo_00", MOTION))  # 160 frames
    z = embed_windows(model, [seq, seq[:40]], hop=16)
    assert z.shape == (9 + 1, 16) and z.dtype == np.float64
    np.testing.assert_allclose(z[0], model.encode(torch.as_tensor(seq[None, :32])).detach().numpy()[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z[9], z[0], rtol=1e-5, atol=1e-5)  # the short sequence's one window is the same frames
    with pytest.raises(MotionlabError, match="sequence 1 has 10 frames, shorter than one window of 32 frames"):
        embed_windows(model, [seq, seq[:10]])
    assert embed_windows(model, [seq[:10], seq], hop=32, skip_short=True).shape == (5, 16)
    with pytest.raises(MotionlabError, match="trained on 32-frame windows, 64 were asked for"):
        embed_windows(model, seq, window=64)
    with pytest.raises(MotionlabError, match=r"expected a \(frames, 12\) array, got shape \(160, 6\)"):
        embed_windows(model, seq[:, :6])


def test_cut_windows_takes_every_hop_frames():
    a = np.arange(20, dtype=np.float32).reshape(10, 2)
    w = cut_windows(a, 4, 3)
    assert w.shape == (3, 4, 2)
    np.testing.assert_array_equal(w[1], a[3:7])
    np.testing.assert_array_equal(w[2], a[6:10])


# ------------------------------------------------------------------------------ classifier


def test_style_classifier_beats_chance_on_held_out_windows(classifier, speaker_data):
    exp_dir, _, _ = classifier
    model = load_feature_network("style", kind="style_classifier", feature=POSE, data_dir=speaker_data, experiments_dir=exp_dir)
    assert isinstance(model, StyleClassifierModel) and model.data_spec.speaker_names == ("fast", "slow")
    df = DataFolder(speaker_data)
    test = df.split("test")
    probs = [classify_windows(model, np.array(df.open_feature(s, POSE)), hop=8) for s in test]
    np.testing.assert_allclose(np.concatenate(probs).sum(1), 1.0, rtol=1e-6)
    labels = df.speakers()
    hits = np.concatenate([p.argmax(1) == model.data_spec.speaker_index(labels[s]) for p, s in zip(probs, test)])
    assert len(hits) == 4 * 12 and hits.mean() > 0.8, hits.mean()  # chance: 0.5


def test_style_classifier_refuses_data_without_speakers(small_demo):
    opt = parse_options(["--hparams_file", "analysis/style_classifier", "--data_dir", str(small_demo)])
    spec = DataSpec((MOTION,), (MOTION,), (12,), (12,))
    with pytest.raises(MotionlabError, match=f"data in {small_demo} has no speakers.json; it needs a speakers.json"):
        StyleClassifierModel(opt, spec)
    with pytest.raises(MotionlabError, match="has only one label"):
        StyleClassifierModel(opt, DataSpec((MOTION,), (MOTION,), (12,), (12,), speaker_names=("a",)))


def test_style_classifier_has_the_mix_stage_blocks_on_64_frames(small_demo):
    opt = parse_options(["--hparams_file", "analysis/style_classifier", "--data_dir", str(small_demo)])
    model = StyleClassifierModel(opt, DataSpec((MOTION,), (MOTION,), (96,), (96,), speaker_names=("a", "b", "c")))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (96, 64, 2), (64, 128, 2), (128, 128, 2), (128, 256, 2), (256, 256, 2), (256, 3, 2)
    ]
    assert model.predict_proba(torch.randn(2, 64, 96)).shape == (2, 3)


# ------------------------------------------------------------------------------ refusals


def command(data):
    return f"./script_train.sh analysis/fgd_autoencoder --data_dir {data} --input_modalities {MOTION} --output_modalities {MOTION}"


def test_refuses_an_experiment_without_checkpoint(ae, small_demo, tmp_path):
    exp_dir, _, _ = ae
    (tmp_path / "analysis_fgd_autoencoder").mkdir()
    shutil.copy(exp_dir / "fgd" / "hparams.yaml", tmp_path / "analysis_fgd_autoencoder" / "hparams.yaml")
    with pytest.raises(MotionlabError) as e:
        load_feature_network("analysis_fgd_autoencoder", kind="autoencoder", feature=MOTION, data_dir=small_demo, experiments_dir=tmp_path)
    assert "has no checkpoint" in str(e.value) and f"train it first: {command(small_demo)} --experiments_dir {tmp_path}" in str(e.value)
    with pytest.raises(MotionlabError, match="does not exist; train it first: ./script_train.sh analysis/fgd_autoencoder .* --experiment_name nothing_here"):
        load_feature_network("nothing_here", kind="autoencoder", feature=MOTION, data_dir=small_demo, experiments_dir=tmp_path)


def test_refuses_a_network_of_the_wrong_kind(ae, classifier, small_demo, speaker_data):
    exp_dir, _, _ = ae
    with pytest.raises(MotionlabError, match="its model is 'motion_autoencoder', expected a style classifier \\(model 'style_classifier'\\)"):
        load_feature_network("fgd", kind="style_classifier", feature=MOTION, data_dir=small_demo, experiments_dir=exp_dir)
    with pytest.raises(MotionlabError, match="its model is 'style_classifier', expected a motion autoencoder"):
        load_feature_network("style", kind="autoencoder", feature=POSE, data_dir=speaker_data, experiments_dir=classifier[0])


def test_refuses_another_feature(ae, small_demo):
    with pytest.raises(MotionlabError, match="trained on feature 'demo_motion' \\(12 dims\\), but 'demo_audio' is being evaluated"):
        load_feature_network("fgd", kind="autoencoder", feature="demo_audio", data_dir=small_demo, experiments_dir=ae[0])


def test_refuses_another_dimension(ae, tmp_path):
    rng = np.random.default_rng(1)
    df = DataFolder(tmp_path / "six")
    df.write_splits({"train": ["a"], "val": ["b"], "test": ["c"]})
    df.write_feature(MOTION, {s: rng.standard_normal((50, 6)) for s in "abc"}, fps=20, columns=[f"c{i}" for i in range(6)], kind="keypoints")
    with pytest.raises(MotionlabError, match=f"trained on feature 'demo_motion' \\(12 dims\\), but 'demo_motion' in {df.path} has 6 dims"):
        load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=df.path, experiments_dir=ae[0])


def test_refuses_another_skeleton_or_scaling(ae, small_demo, tmp_path):
    """Same name and dims, but other columns (another joint set) or other standardisation: other units for the network."""
    src = DataFolder(small_demo)
    raw = {s: src.scaler(MOTION).inverse_transform(np.array(src.open_feature(s, MOTION))) for s in src.sequences()}
    cols = src.meta(MOTION)["columns"]
    other = DataFolder(tmp_path / "other")
    other.write_splits(src.splits())
    other.write_feature(MOTION, raw, fps=20, columns=cols[::-1], kind="keypoints", scale=True)
    with pytest.raises(MotionlabError, match="with different columns \\(column 0: 'j0_x' vs 'j3_z'\\)"):
        load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=other.path, experiments_dir=ae[0])
    other.write_feature(MOTION, {s: 2 * a for s, a in raw.items()}, fps=20, columns=cols, kind="keypoints", scale=True)
    with pytest.raises(MotionlabError, match="is standardised differently"):
        load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=other.path, experiments_dir=ae[0])
    other.write_feature(MOTION, raw, fps=20, columns=cols, kind="keypoints", scale=True)  # the same data, copied: accepted
    assert isinstance(load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=other.path, experiments_dir=ae[0]), MotionAutoencoderModel)


def test_refuses_a_classifier_that_does_not_know_the_evaluated_speakers(classifier, speaker_data, tmp_path):
    other = tmp_path / "data"
    shutil.copytree(speaker_data, other)
    labels = DataFolder(other).speakers()
    DataFolder(other).write_speakers({**labels, "fast_0": "newcomer"})
    with pytest.raises(MotionlabError, match=r"knows speakers \['fast', 'slow'\], but .*speakers.json also labels sequences \['newcomer'\]"):
        load_feature_network("style", kind="style_classifier", feature=POSE, data_dir=other, experiments_dir=classifier[0])


def test_refuses_an_untrained_network(ae, small_demo, tmp_path):
    exp_dir, _, _ = ae
    shutil.copytree(exp_dir / "fgd", tmp_path / "fgd", ignore=shutil.ignore_patterns("tb"))
    for ckpt in (tmp_path / "fgd" / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        state["global_step"] = 0
        torch.save(state, ckpt)
    with pytest.raises(MotionlabError, match="saved at global step 0: the motion autoencoder \\(FGD\\) is untrained \\(random weights\\); train it first"):
        load_feature_network("fgd", kind="autoencoder", feature=MOTION, data_dir=small_demo, experiments_dir=tmp_path)
