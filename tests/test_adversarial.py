"""AdversarialModel: who steps when, what each step changes, the criteria, λ ramps, schedules, resume and DDP settings."""

from pathlib import Path

import pytest
import torch

import gesture_fixtures as gf
from motionlab.models.modules.adversarial import gan_loss, is_discriminator_step
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError


def s2g_options(data, exp, *extra, model="speech2gesture"):
    return parse_options([
        "--hparams_file", "demo/speech2gesture", "--model", model, "--plugins", "gesture_fixtures", "--data_dir", str(data),
        "--experiments_dir", str(exp), "--experiment_name", "gan", "--no-progress_bar", *extra,
    ])


def test_gan_criteria_known_values():
    s = torch.tensor([0.5, 2.0, -1.0])
    assert gan_loss("l1", s, True, discriminator=True).item() == pytest.approx((0.5 + 1 + 2) / 3)
    assert gan_loss("l1", s, False, discriminator=True).item() == pytest.approx((0.5 + 2 + 1) / 3)
    assert gan_loss("lsgan", s, True, discriminator=True).item() == pytest.approx((0.25 + 1 + 4) / 3)
    assert gan_loss("bce", torch.zeros(3), False, discriminator=True).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert gan_loss("hinge", s, True, discriminator=True).item() == pytest.approx((0.5 + 0 + 2) / 3)
    assert gan_loss("hinge", s, False, discriminator=True).item() == pytest.approx((1.5 + 3 + 0) / 3)
    assert gan_loss("hinge", s, True, discriminator=False).item() == pytest.approx(-0.5)
    with pytest.raises(MotionlabError, match="--gan_loss: unknown criterion 'wgan'"):
        gan_loss("wgan", s, True, discriminator=True)


@pytest.mark.parametrize("ratio", [1.0, 3.0, 0.5])
def test_step_ratio_holds_over_many_steps_for_a_fixed_seed(ratio):
    n, p = 6000, ratio / (1 + ratio)
    stochastic = [is_discriminator_step("stochastic", ratio, 11212, i) for i in range(n)]
    assert abs(sum(stochastic) / n - p) < 0.02  # 3 standard deviations at n = 6000
    assert stochastic == [is_discriminator_step("stochastic", ratio, 11212, i) for i in range(n)]  # the same seed: the same sequence
    assert stochastic != [is_discriminator_step("stochastic", ratio, 7, i) for i in range(n)]
    alternate = [is_discriminator_step("alternate", ratio, 0, i) for i in range(n)]
    assert sum(alternate) == round(n * p)
    window = round(1 + ratio) if ratio >= 1 else round(1 + 1 / ratio)  # the pattern repeats every (1 + r) or (1 + 1/r) iterations
    for start in range(0, n - window, window):
        assert sum(alternate[start : start + window]) == round(window * p)
    assert all(is_discriminator_step("both", ratio, 0, i) for i in range(10))


def test_alternate_pattern_starts_with_d():
    assert [is_discriminator_step("alternate", 1.0, 0, i) for i in range(6)] == [True, False] * 3
    assert [is_discriminator_step("alternate", 0.5, 0, i) for i in range(6)] == [True, False, False] * 2


def test_lambda_ramps():
    m = gf.tiny_model("speech2gesture", "--lambda_gan", "1")  # the original's start (the demo starts λ_gan at 0.1)
    assert (m.lambda_gan, m.lambda_d) == (1.0, 1.0)
    m.gan_iteration = 301
    assert m.lambda_gan == pytest.approx(1.1)
    m.gan_iteration = 301 * 5 + 300
    assert m.lambda_d == pytest.approx(1.5)
    m.gan_iteration = 10**6
    assert m.lambda_gan == 2.0
    flat = gf.tiny_model("speech2gesture", "--lambda_ramp", "0", "--lambda_gan", "0.3")
    flat.gan_iteration = 10**6
    assert flat.lambda_gan == 0.3


def test_d_and_g_steps_change_only_their_own_weights(tmp_path, small_demo):
    gf.ProbeSpeech2GestureModel.records = []
    result = train(s2g_options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "6", "--limit_val_batches", "1", model="probe_speech2gesture"))
    records = gf.ProbeSpeech2GestureModel.records
    assert len(records) == 6 and result["global_step"] == 6  # one optimiser step per iteration
    kinds = [r["d_step"] for r in records]
    assert kinds == [is_discriminator_step("stochastic", 1.0, 0, i) for i in range(6)] and True in kinds and False in kinds
    for r in records:
        disc = {k for k in r["all"] if k.startswith("discriminator.")}
        if r["d_step"]:
            assert r["changed"] and r["changed"] <= disc, sorted(r["changed"] - disc)[:3]
            assert all(k.startswith("discriminator.") for k in r["buffers"])  # the generator ran in eval mode
        else:
            assert r["changed"] and not (r["changed"] & disc)
            assert len(r["changed"]) == len(r["all"] - disc)  # every generator weight got a gradient


def test_resume_restores_both_optimisers_counters_and_schedules(tmp_path, small_demo):
    common = ["--limit_train_batches", "5", "--limit_val_batches", "1", "--lr_gamma", "0.5"]
    first = train(s2g_options(small_demo, tmp_path, "--max_epochs", "1", *common))
    ckpt = torch.load(Path(first["experiment_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    counters = ckpt["motionlab_adversarial"]
    d_steps = sum(is_discriminator_step("stochastic", 1.0, 0, i) for i in range(5))
    assert counters == {"gan_iteration": 5, "g_steps": 5 - d_steps, "d_steps": d_steps}
    for state, steps in zip(ckpt["optimizer_states"], (5 - d_steps, d_steps)):
        assert all(int(s["step"]) == steps for s in state["state"].values())  # Adam stepped each network exactly its own steps
        assert state["param_groups"][0]["lr"] == pytest.approx(2e-3 * 0.5)  # γ once per epoch

    second = train(s2g_options(small_demo, tmp_path, "--max_epochs", "2", "--resume", *common, model="resume_probe_speech2gesture"))
    start = gf.ResumeProbeSpeech2GestureModel.at_start
    assert start["counters"] == (5, 5 - d_steps, d_steps)
    assert start["lr"] == [pytest.approx(1e-3)] * 2
    for restored, saved in zip(start["optimizers"], ckpt["optimizer_states"]):
        assert restored.keys() == saved["state"].keys()
        for k in saved["state"]:
            for name in ("exp_avg", "exp_avg_sq", "step"):
                torch.testing.assert_close(restored[k][name], saved["state"][k][name])
    after = torch.load(Path(second["experiment_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["motionlab_adversarial"]["gan_iteration"] == 10 and second["global_step"] == 10


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path, small_demo):
    train(s2g_options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "2", "--limit_val_batches", "1"))
    with pytest.raises(MotionlabError, match=r"checkpoint does not fit the discriminator built from these options .*discriminator\.net\.0\.weight \(checkpoint \(16, 12, 4\), model \(8, 12, 4\)\)"):
        train(s2g_options(small_demo, tmp_path, "--max_epochs", "2", "--limit_train_batches", "2", "--resume", "--disc_channels", "8,32,32"))
    with pytest.raises(MotionlabError, match=r"does not fit the generator .*only in the checkpoint"):
        train(s2g_options(small_demo, tmp_path, "--max_epochs", "2", "--limit_train_batches", "2", "--resume", "--unet_depth", "2"))


def test_both_schedule_steps_d_then_g_every_iteration(tmp_path, small_demo):
    result = train(s2g_options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "3", "--limit_val_batches", "1", "--dg_schedule", "both", "--gan_loss", "hinge", "--disc_input", "pose"))
    ckpt = torch.load(Path(result["experiment_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert result["global_step"] == 6 and ckpt["motionlab_adversarial"] == {"gan_iteration": 3, "g_steps": 3, "d_steps": 3}
    for key in ("train_loss", "train_d_loss", "train_adv", "val_loss", "val_l1", "val_g_loss"):
        assert key in result["metrics"], key
    assert result["metrics"]["val_loss"] == pytest.approx(result["metrics"]["val_l1"])  # checkpoints are chosen on the reconstruction


def test_ddp_strategy_tolerates_unused_networks_and_options_are_checked():
    m = gf.tiny_model("speech2gesture")
    assert m.adjust_trainer_arguments({"strategy": "ddp", "devices": 2})["strategy"] == "ddp_find_unused_parameters_true"
    assert m.adjust_trainer_arguments({"strategy": "auto", "devices": 2})["strategy"] == "ddp_find_unused_parameters_true"
    assert m.adjust_trainer_arguments({"strategy": "auto", "devices": 1})["strategy"] == "auto"
    assert m.adjust_trainer_arguments({"strategy": "ddp", "gradient_clip_val": 1.0})["gradient_clip_val"] is None
    with pytest.raises(MotionlabError, match="--lr_gamma 0.99 and --lr_policy cosine"):
        gf.tiny_model("speech2gesture", "--lr_policy", "cosine")


def test_last_checkpoint_is_the_final_state_even_when_validation_gets_worse(tmp_path, small_demo):
    # Lightning's save_last only rewrites last.ckpt when the monitored value improves: --resume then lost epochs
    result = train(s2g_options(small_demo, tmp_path, "--max_epochs", "3", "--limit_train_batches", "2", "--limit_val_batches", "1",
                               "--monitor", "val_adv", "--monitor_mode", "max"))
    ckpts = Path(result["experiment_dir"]) / "checkpoints"
    last = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert (last["global_step"], last["epoch"]) == (6, 2) == (result["global_step"], 2)
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]
