"""Issue 9's demo claims, end to end through ``motionlab evaluate --style_transfer``: on the synthetic
4-speaker demo data the style classifier separates the speakers, Mix-StAGE transferred to a target
style is classified as the target far above chance and moves like the ground truth, and
Speech2Gesture (no style input) is at chance.

Everything is trained once per module on the demo data (40 takes of 8 s) with the demo hparams and fewer epochs,
with two torch threads so the result does not depend on the machine's core count.
"""

from __future__ import annotations

import json

import pytest
import torch

from motionlab.analysis import evaluate
from motionlab.datasets.demo_data import make_demo_data
from motionlab.training.options import parse_options
from motionlab.training.train import train

CHANCE = 0.25  # 4 speakers


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(experiments dir, data dir, evaluation dir) with the style classifier, Mix-StAGE and Speech2Gesture trained."""
    root = tmp_path_factory.mktemp("transfer")
    data = make_demo_data(root / "data", speakers=4)  # the demo's own: 40 takes of 8 s
    exps = root / "experiments"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        common = ["--data_dir", str(data), "--experiments_dir", str(exps), "--no-progress_bar", "--seed", "0"]
        train(parse_options(["--hparams_file", "demo/style_classifier", *common, "--max_epochs", "3"]))
        for model, epochs in (("mixstage", "10"), ("speech2gesture", "6")):
            train(parse_options(["--hparams_file", f"demo/{model}", *common, "--max_epochs", epochs]))
    finally:
        torch.set_num_threads(threads)
    return exps, data, root / "evaluation"


def scores(trained, experiment: str) -> dict:
    """``motionlab evaluate <experiment> --style_transfer --style_model demo_style_classifier`` on the test split."""
    exps, data, out = trained
    args = evaluate.parse_args([experiment, "--experiments_dir", str(exps), "--data_dir", str(data), "--output_folder", str(out),
                                "--style_transfer", "--style_model", "demo_style_classifier", "--baselines", "ground_truth", "--no-progress"])
    evaluate.run(args)
    return json.loads((out / experiment / "metrics.json").read_text())


@pytest.fixture(scope="module")
def mixstage(trained):
    return scores(trained, "demo_mixstage")


def test_the_style_classifier_separates_the_speakers(mixstage):
    truth = mixstage["systems"]["ground_truth"]
    assert truth["style_accuracy"] >= 0.95, truth["style_accuracy"]
    # the untransferred source motion is never classified as another speaker's target
    assert truth["transfer_style_accuracy"] == 0.0
    assert mixstage["settings"]["sequences"] == 4


def test_mixstage_transfers_to_the_target_style_and_moves(mixstage):
    m = mixstage["systems"]["model"]
    assert m["transfer_style_accuracy"] >= 0.6, m["transfer_style_accuracy"]  # chance 0.25
    assert m["style_accuracy"] >= 0.6, m["style_accuracy"]  # its own style too
    assert 0.5 <= m["speed_ratio"] <= 2.0, m["speed_ratio"]
    assert m["style_space_silhouette"] > 0.5, m["style_space_silhouette"]
    assert m["l1"] < 0.6, m["l1"]  # the mean pose scores about 1


def test_speech2gesture_without_style_input_is_at_chance(trained):
    m = scores(trained, "demo_speech2gesture")["systems"]["model"]
    # one output per source take whatever the target: at most one of its three targets can match
    assert m["transfer_style_accuracy"] <= 0.45, m["transfer_style_accuracy"]
    assert "style_space_silhouette" not in m
