"""Generation in a style: --style, the default own style, --sample_all_styles file names, the generator-usage
histogram, and the refusals (unknown style, another speaker set, no speakers.json, a model without styles).
A tiny style-conditioned toy (tests/toy_models.py) keeps these fast; Mix-StAGE end to end is at the bottom."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from motionlab.datafolder import DataFolder
from motionlab.datasets.demo_data import MOTION, make_demo_data
from motionlab.inference import generate as gen
from motionlab.inference import styles
from motionlab.training.experiment import Experiment
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError

STYLES = [f"speaker_{k}" for k in range(4)]


@pytest.fixture(scope="module")
def spk(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp("sg") / "data", n_sequences=12, seconds=6.0, speakers=4)


def toy_train(data, exp, model="toy_style", *extra):
    train(parse_options([
        "--hparams_file", "demo/_common", "--model", model, "--plugins", "toy_models", "--data_dir", str(data), "--experiments_dir", str(exp),
        "--experiment_name", model, "--no-progress_bar", "--warmup_steps", "0", "--lr_policy", "none", "--input_modalities", "demo_audio",
        "--input_lengths", "8", "--output_lengths", "8", "--input_time_offsets", "0", "--output_time_offsets", "0", "--max_epochs", "1",
        "--limit_train_batches", "2", "--limit_val_batches", "1", *extra,
    ]))


@pytest.fixture(scope="module")
def toy(spk, tmp_path_factory):
    exp = tmp_path_factory.mktemp("sgexp")
    toy_train(spk, exp)
    return exp


def generate(toy, tmp_path, *args):
    return gen.run(gen.parse_args(["toy_style", *args, "--experiments_dir", str(toy), "--output_folder", str(tmp_path / "g"), "--no-progress"]))


def test_default_style_is_the_sequences_own_and_style_changes_the_output(toy, spk, tmp_path):
    assert DataFolder(spk).speakers()["demo_09"] == "speaker_1"
    own = generate(toy, tmp_path, "demo_09")
    assert [p.name for p in own] == [f"demo_09.{MOTION}.generated.npy", "demo_09.generator_usage.json"]
    same = generate(toy, tmp_path, "demo_09", "--style", "speaker_1")
    other = generate(toy, tmp_path, "demo_09", "--style", "speaker_2")
    assert [p.name for p in same][0] == f"demo_09.speaker_1_to_speaker_1.{MOTION}.generated.npy"
    assert [p.name for p in other] == [f"demo_09.speaker_1_to_speaker_2.{MOTION}.generated.npy", "demo_09.speaker_1_to_speaker_2.generator_usage.json"]
    np.testing.assert_array_equal(np.load(own[0]), np.load(same[0]))
    assert np.abs(np.load(own[0]) - np.load(other[0])).mean() > 1e-3
    usage = json.loads(other[1].read_text())
    assert list(usage["styles"]) == ["speaker_2"] and usage["styles"]["speaker_2"]["frames"] == 120  # 6 s at 20 fps, each frame once


def test_unknown_style_lists_the_known_ones(toy, tmp_path, capsys):
    with pytest.raises(MotionlabError, match=r"--style nobody: unknown style \(the model knows: speaker_0, speaker_1, speaker_2, speaker_3\)"):
        generate(toy, tmp_path, "demo_09", "--style", "nobody")
    assert gen.main(["toy_style", "demo_09", "--style", "nobody", "--experiments_dir", str(toy), "--output_folder", str(tmp_path / "g")]) == 2
    assert "motionlab generate: error: --style nobody: unknown style (the model knows: speaker_0, speaker_1, speaker_2, speaker_3)" in capsys.readouterr().err


def test_a_speaker_only_the_data_knows_is_refused(toy, spk, tmp_path):
    data = shutil.copytree(spk, tmp_path / "data")
    df = DataFolder(data)
    df.write_speakers({**df.speakers(), "demo_09": "newcomer"})
    with pytest.raises(MotionlabError, match=r"--style newcomer: 'newcomer' is a speaker of .*speakers.json, but model 'toy_style' was trained on another speaker set and knows only: speaker_0, speaker_1"):
        generate(toy, tmp_path, "demo_09", "--data_dir", str(data), "--style", "newcomer")
    with pytest.raises(MotionlabError, match=r"sequence 'demo_09' is by 'newcomer' .*a speaker model 'toy_style' was not trained on .*pass --style"):
        generate(toy, tmp_path, "demo_09", "--data_dir", str(data))
    # the model's own index is used, not the data's: with a speaker added, the data's sorted list shifts
    df.write_speakers({**{q: v for q, v in DataFolder(spk).speakers().items()}, "demo_08": "aaa_first"})
    a = generate(toy, tmp_path / "a", "demo_09", "--data_dir", str(data))
    b = generate(toy, tmp_path / "b", "demo_09")
    np.testing.assert_array_equal(np.load(a[0]), np.load(b[0]))


def test_data_without_speakers_json_needs_a_style(toy, spk, tmp_path):
    data = shutil.copytree(spk, tmp_path / "data")
    (data / "speakers.json").unlink()
    with pytest.raises(MotionlabError, match=r"model 'toy_style' generates in a given style, but .* has no speakers.json to take sequence 'demo_09''s own style from: pass --style <label> \(known: speaker_0"):
        generate(toy, tmp_path, "demo_09", "--data_dir", str(data))
    (path,) = [p for p in generate(toy, tmp_path, "demo_09", "--data_dir", str(data), "--style", "speaker_3") if p.suffix == ".npy"]
    assert path.name == f"demo_09.to_speaker_3.{MOTION}.generated.npy"


def test_sample_all_styles_writes_exactly_the_expected_files(toy, spk, tmp_path):
    written = generate(toy, tmp_path, "--sample_all_styles", "1")
    test_seqs = {q: DataFolder(spk).speakers()[q] for q in DataFolder(spk).split("test")}  # one per speaker
    expected = {f"{q}.{src}_to_{tgt}.{MOTION}.generated.npy" for q, src in test_seqs.items() for tgt in STYLES if tgt != src}
    assert len(expected) == 12
    assert {p.name for p in written} == expected | {"generator_usage.json"}
    assert {p.name for p in (tmp_path / "g" / "toy_style").iterdir()} == expected | {"generator_usage.json"}
    usage = json.loads((tmp_path / "g" / "toy_style" / "generator_usage.json").read_text())
    assert list(usage["styles"]) == STYLES and len(usage["sequences"]) == 12
    for style, h in usage["styles"].items():
        assert h["frames"] == 3 * 120 and sum(h["argmax_counts"]) == 360 and sum(h["mean_weight"]) == pytest.approx(1.0, abs=1e-5)
    # the toy's weights depend only on the target style: the histogram reflects its gate
    model, _, _ = Experiment("toy_style", toy).load_model()
    import torch

    gate = torch.softmax(model.gate.weight, -1).detach().numpy()
    for k, style in enumerate(STYLES):
        np.testing.assert_allclose(usage["styles"][style]["mean_weight"], gate[k], atol=1e-5)
    with pytest.raises(MotionlabError, match="--sample_all_styles chooses the sequences and styles itself"):
        generate(toy, tmp_path, "demo_09", "--sample_all_styles", "1")


def test_transfer_plan_and_names(toy, spk):
    model, _, _ = Experiment("toy_style", toy).load_model()
    plan, notes = styles.transfer_plan(model, DataFolder(spk), "test", 2)
    assert len(plan) == 12 and ("demo_08", "speaker_0", "speaker_3") in plan
    assert notes == [f"style '{s}': only 1 test sequence (asked for 2)" for s in STYLES]
    with pytest.raises(MotionlabError, match="cannot be used as a file name"):
        styles.transfer_stem("demo_01", "a b", "c")


def test_model_without_styles_refuses_style(spk, small_demo, tmp_path):
    toy_train(small_demo, tmp_path, "toy_windowed")
    with pytest.raises(MotionlabError, match="--style speaker_1: model 'toy_windowed' was trained without speaker/style labels"):
        gen.run(gen.parse_args(["toy_windowed", "demo_07", "--style", "speaker_1", "--experiments_dir", str(tmp_path), "--output_folder", str(tmp_path / "g"), "--no-progress"]))


# ------------------------------------------------------------------ style classifier and evaluation


@pytest.fixture(scope="module")
def classifier(spk, toy):
    """The demo style classifier (hparams/demo/style_classifier.yaml) trained on the 4-speaker demo data, beside the toy."""
    import torch

    torch.manual_seed(0)
    train(parse_options(["--hparams_file", "demo/style_classifier", "--data_dir", str(spk), "--experiments_dir", str(toy), "--experiment_name", "style", "--no-progress_bar", "--max_epochs", "8"]))
    return "style"


def test_style_classifier_separates_the_demo_speakers(classifier, toy, spk):
    from motionlab.analysis.feature_networks import classify_windows, load_feature_network

    model = load_feature_network(classifier, kind="style_classifier", feature=MOTION, data_dir=spk, experiments_dir=toy)
    assert list(model.data_spec.speaker_names) == STYLES
    df = DataFolder(spk)
    hits = []
    for q in df.split("test"):
        p = classify_windows(model, np.array(df.open_feature(q, MOTION)), hop=4)
        hits.append(p.argmax(1) == STYLES.index(df.speakers()[q]))
    accuracy = float(np.concatenate(hits).mean())
    assert accuracy > 0.8, accuracy  # chance: 0.25


def test_evaluate_style_transfer_scores_against_the_target_and_plots_the_style_space(classifier, toy, tmp_path, capsys):
    from motionlab.analysis.evaluate import main

    out = tmp_path / "eval"
    common = ["toy_style", "--experiments_dir", str(toy), "--output_folder", str(out), "--baselines", "ground_truth", "--no-progress"]
    assert main([*common, "--style_transfer"]) == 2
    assert "--style_transfer scores the transferred motion with a style classifier: name one with --style_model" in capsys.readouterr().err
    assert main([*common, "--style_transfer", "--style_model", classifier]) == 0
    result = json.loads((out / "toy_style" / "metrics.json").read_text())
    model, gt = result["systems"]["model"], result["systems"]["ground_truth"]
    assert {"transfer_style_accuracy", "transfer_style_f1", "transfer_style_inception_score", "style_space_silhouette"} <= set(model)
    # the real motion is classified as its own speaker, so as the target of a transfer (always another speaker) almost never
    assert gt["style_accuracy"] > 0.8 and gt["transfer_style_accuracy"] < 0.1
    report = (out / "toy_style" / "report.md").read_text()
    assert "style transfer: 12 generations (4 sequences x the other 3 styles), scored against the target style; chance = 0.250" in report
    assert "| transfer_style_accuracy — style transfer: classifier accuracy against the TARGET style | ↑ |" in report
    assert (out / "toy_style" / "style_space.png").stat().st_size > 1000 and "](style_space.png)" in report


# ------------------------------------------------------------------ Mix-StAGE end to end (tiny)


def test_mixstage_generates_every_style_with_a_generator_histogram(spk, tmp_path):
    """hparams/demo/mixstage.yaml for two steps on the 4-speaker demo data (its k-means clusters fitted on first use),
    then --sample_all_styles 1: exactly the transfer files and a histogram over its 4 generators per target style."""
    import torch

    torch.manual_seed(0)
    data = shutil.copytree(spk, tmp_path / "data")
    exp = tmp_path / "exp"
    train(parse_options(["--hparams_file", "demo/mixstage", "--data_dir", str(data), "--experiments_dir", str(exp), "--experiment_name", "mix", "--no-progress_bar",
                         "--max_epochs", "1", "--limit_train_batches", "2", "--limit_val_batches", "1", "--balance_speakers"]))
    assert DataFolder(data).pose_clusters_path(MOTION, 4).exists()
    written = gen.run(gen.parse_args(["mix", "--sample_all_styles", "1", "--experiments_dir", str(exp), "--output_folder", str(tmp_path / "g"), "--no-progress"]))
    test_seqs = {q: DataFolder(data).speakers()[q] for q in DataFolder(data).split("test")}
    expected = {f"{q}.{src}_to_{tgt}.{MOTION}.generated.npy" for q, src in test_seqs.items() for tgt in STYLES if tgt != src}
    assert {p.name for p in written} == expected | {"generator_usage.json"}
    a, b = (np.load(tmp_path / "g" / "mix" / f"demo_08.speaker_0_to_{t}.{MOTION}.generated.npy") for t in ("speaker_1", "speaker_2"))
    assert a.shape == (120, 12) and np.abs(a - b).mean() > 0  # the style input changes the output
    usage = json.loads((tmp_path / "g" / "mix" / "generator_usage.json").read_text())
    for h in usage["styles"].values():
        assert len(h["mean_weight"]) == 4 and sum(h["mean_weight"]) == pytest.approx(1.0, abs=1e-4) and sum(h["argmax_counts"]) == h["frames"] == 360
