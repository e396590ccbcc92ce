"""SDT's pose2pose VAE: trains through train.py, its μ is the template code / FTD feature, and the
feature-network loader refuses an untrained VAE, a plain autoencoder and a VAE of other keypoints."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from motionlab.analysis.feature_networks import embed_windows, load_feature_network
from motionlab.datafolder import DataFolder
from motionlab.models.pose2pose_vae_model import Pose2PoseVaeModel, gaussian_kl
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError

MOTION = "demo_motion"


def run(hparams, data, exp_dir, name, *extra):
    opt = parse_options(["--hparams_file", hparams, "--data_dir", str(data), "--experiments_dir", str(exp_dir), "--experiment_name", name, "--no-progress_bar", *extra])
    return opt, train(opt)


@pytest.fixture(scope="module")
def vae(tmp_path_factory, small_demo):
    exp_dir = tmp_path_factory.mktemp("experiments")
    torch.manual_seed(0)
    opt, result = run("demo/pose2pose_vae", small_demo, exp_dir, "vae")
    return exp_dir, opt, result


def test_gaussian_kl_on_known_values():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, np.log(2.0)], [0.0, 0.0]], dtype=torch.float32)
    # elements: (0+1+1-1)=1, (-ln2+0+2-1)=1-ln2, 0, (0+4+1-1)=4 -> 0.5 * mean
    expected = 0.5 * (1 + (1 - np.log(2.0)) + 0 + 4) / 4
    assert float(gaussian_kl(mu, logvar)) == pytest.approx(expected, rel=1e-6)
    assert float(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0


def test_vae_trains_encodes_mu_and_reconstructs(vae, small_demo):
    exp_dir, opt, result = vae
    assert result["global_step"] > 0
    model = load_feature_network("vae", kind="pose2pose_vae", feature=MOTION, data_dir=small_demo, experiments_dir=exp_dir)
    assert isinstance(model, Pose2PoseVaeModel) and model.window == 32
    seq = np.array(DataFolder(small_demo).open_feature("demo_00", MOTION))
    w = torch.as_tensor(np.stack([seq[i : i + 32] for i in range(0, 128, 16)]))
    with torch.no_grad():
        mu, logvar = model.encode_distribution(w)
        assert mu.shape == logvar.shape == (8, 16)
        torch.testing.assert_close(model.encode(w), mu)  # encode = μ (deterministic, no sampling in eval)
        recon = model(w)[0]
        untrained = Pose2PoseVaeModel(opt, model.data_spec).eval()
        before, after = float((untrained(w)[0] - w).abs().mean()), float((recon - w).abs().mean())
    assert after < 0.8 * before, (before, after)
    z = embed_windows(model, seq, hop=16)
    np.testing.assert_allclose(z[:8], mu.numpy(), rtol=1e-4, atol=1e-5)


def test_loss_is_l1_plus_weighted_kl(vae):
    exp_dir, opt, _ = vae
    model = load_feature_network("vae", kind="pose2pose_vae", feature=MOTION, experiments_dir=exp_dir)
    x = torch.randn(4, 32, model.dim)
    model.train()
    torch.manual_seed(1)
    loss, terms = model.compute_loss({"inputs": [x], "outputs": [x]})
    assert set(terms) == {"l1", "kl"}
    assert float(loss) == pytest.approx(float(terms["l1"] + 0.1 * terms["kl"]), rel=1e-6)


def test_loader_refuses_untrained_and_wrong_kind(vae, small_demo, tmp_path):
    exp_dir, _, _ = vae
    # a plain FGD autoencoder is not a VAE
    run("demo/fgd_autoencoder", small_demo, exp_dir, "ae", "--max_epochs", "1", "--limit_train_batches", "2")
    with pytest.raises(MotionlabError, match=r"its model is 'motion_autoencoder', expected a pose2pose VAE \(FTD\)"):
        load_feature_network("ae", kind="pose2pose_vae", feature=MOTION, experiments_dir=exp_dir)
    # the same VAE with its checkpoint at step 0 = random weights (the original silently used them)
    untrained = tmp_path / "vae0"
    shutil.copytree(exp_dir / "vae", untrained)
    for name in ("best.ckpt", "last.ckpt"):
        p = untrained / "checkpoints" / name
        if p.exists():
            ck = torch.load(p, weights_only=True)
            ck["global_step"] = 0
            torch.save(ck, p)
    with pytest.raises(MotionlabError, match="saved at global step 0: the pose2pose VAE \\(FTD\\) is untrained"):
        load_feature_network("vae0", kind="pose2pose_vae", feature=MOTION, experiments_dir=tmp_path)
    with pytest.raises(MotionlabError, match="trained on feature 'demo_motion'.*'other' is being evaluated"):
        load_feature_network("vae", kind="pose2pose_vae", feature="other", experiments_dir=exp_dir)


def test_scorer_reports_ftd_zero_for_ground_truth_and_positive_for_noise(vae, small_demo):
    from motionlab.analysis.scoring import Scorer

    exp_dir, _, _ = vae
    df = DataFolder(small_demo)
    scorer = Scorer(df, MOTION, ftd_model="vae", experiments_dir=exp_dir, window=32)
    seqs = df.split("test") + df.split("val")
    truth = {q: np.array(df.open_feature(q, MOTION)) for q in seqs}
    same = scorer.score("gt", truth, truth)
    rng = np.random.default_rng(0)
    noisy = scorer.score("noisy", {q: t + rng.standard_normal(t.shape) for q, t in truth.items()}, truth)
    assert same["ftd"] == pytest.approx(0.0, abs=1e-6)
    assert noisy["ftd"] > 0.1, noisy["ftd"]
    with pytest.raises(MotionlabError, match="its model is 'motion_autoencoder'|does not exist"):
        Scorer(df, MOTION, ftd_model="nope", experiments_dir=exp_dir)
