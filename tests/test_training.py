"""Training and generation end to end on the demo data (small, CPU)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, run_cli, run_script
from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.inference import generate as gen
from motionlab.training.experiment import Experiment
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError


def options(data_dir, exp_dir, *extra):
    return parse_options(["--hparams_file", "demo", "--data_dir", str(data_dir), "--experiments_dir", str(exp_dir), "--no-progress_bar", *extra])


def mean_baseline_mse(opt) -> float:
    """Validation MSE of always predicting the training mean of the output modality."""
    train_set, val_set = MultimodalDataset(opt, "train"), MultimodalDataset(opt, "val")
    mean = np.mean([train_set[i]["outputs"][0] for i in range(0, len(train_set), 7)], axis=(0, 1))
    ys = np.stack([val_set[i]["outputs"][0] for i in range(len(val_set))])
    return float(((ys - mean) ** 2).mean())


def test_demo_trains_below_mean_baseline_and_generates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "demo"  # the demo's own folder, missing: the demo creates it
    opt = options("data/demo", tmp_path / "exp")
    result = train(opt)
    exp = Path(result["experiment_dir"])
    assert (exp / "hparams.yaml").exists() and (exp / "checkpoints" / "best.ckpt").exists() and (exp / "checkpoints" / "last.ckpt").exists()
    assert list((exp / "tb").glob("events.out.tfevents.*")), "tensorboard logs missing"
    baseline = mean_baseline_mse(opt)
    val = result["metrics"]["val_loss"]
    assert val < 0.2 * baseline, (val, baseline)

    out = tmp_path / "gen"
    proc = run_script("script_generate.sh", "demo", "--experiments_dir", str(tmp_path / "exp"), "--output_folder", str(out), "--data_dir", str(data))
    assert proc.returncode == 0, proc.stderr
    first_test = (data / "base_filenames_test.txt").read_text().split()[0]
    path = out / "demo" / f"{first_test}.demo_motion.generated.npy"
    assert str(path) in proc.stdout
    generated = np.load(path)
    truth = np.load(data / f"{first_test}.demo_motion.npy")
    assert generated.shape == truth.shape  # generation length = sequence length
    # inverse-scaled: the scaled ground truth has std ~1, the generated motion is in original units
    from motionlab.feature_extraction.scalers import StandardScaler

    scaler = StandardScaler.load(data / "demo_motion.scaler.npz")
    np.testing.assert_allclose(generated[:10], scaler.inverse_transform(truth[:10]), atol=1e-4)  # the seed frames


def test_demo_data_is_made_only_in_the_demo_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "data" / "dmeo"
    with pytest.raises(MotionlabError, match=r"--data_dir .*dmeo: folder not found \(demo data is only created in data/demo"):
        train(options("data/dmeo", tmp_path / "exp"))
    assert not typo.exists() and not (tmp_path / "data" / "demo").exists()


def test_generate_named_sequence_max_length_and_samples(tmp_path, small_demo):
    train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "3"))
    args = gen.parse_args(["demo", "demo_01", "--experiments_dir", str(tmp_path), "--output_folder", str(tmp_path / "g"), "--max_length", "50", "--num_samples", "3"])
    (path,) = gen.run(args)
    assert path.name == "demo_01.demo_motion.generated.npy" and np.load(path).shape == (3, 50, 12)


def test_generate_without_checkpoint_is_clear(tmp_path, small_demo):
    exp = tmp_path / "demo"
    exp.mkdir()
    (exp / "hparams.yaml").write_text("model: transformer\n")
    args = gen.parse_args(["demo", "--experiments_dir", str(tmp_path)])
    with pytest.raises(MotionlabError, match="has no checkpoint"):
        gen.run(args)
    assert gen.main(["missing_exp", "--experiments_dir", str(tmp_path)]) == 2


def test_generate_rejects_checkpoint_of_other_model(tmp_path, small_demo):
    train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "2"))
    hp = tmp_path / "demo" / "hparams.yaml"
    text = hp.read_text()
    hp.write_text(text.replace("model: transformer", "model: transflower"))
    with pytest.raises(MotionlabError, match="checkpoint is of model 'transformer'.*names model 'transflower'"):
        Experiment(tmp_path / "demo").load_model()
    hp.write_text(text.replace("model: transformer", "model: other"))
    with pytest.raises(MotionlabError, match="no model named 'other'.*registered models"):
        Experiment(tmp_path / "demo").load_model()


def test_resume_continues_at_the_right_step(tmp_path, small_demo):
    first = train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "5"))
    assert first["global_step"] == 5
    with pytest.raises(MotionlabError, match="already has checkpoints"):
        train(options(small_demo, tmp_path, "--max_epochs", "2", "--limit_train_batches", "5"))
    second = train(options(small_demo, tmp_path, "--max_epochs", "2", "--limit_train_batches", "5", "--resume"))
    assert second["global_step"] == 10
    ckpt = torch.load(tmp_path / "demo" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 10 and ckpt["epoch"] == 1
    assert int(next(iter(ckpt["optimizer_states"][0]["state"].values()))["step"]) == 10  # Adam moments carried over


@pytest.mark.parametrize(
    "extra, expected_factor",
    [
        (["--lr_policy", "step", "--lr_decay_steps", "2", "--lr_decay_factor", "0.5", "--warmup_steps", "0"], 0.25),  # after 4 steps
        (["--lr_policy", "none", "--warmup_steps", "10"], 0.5),  # warm-up factor (4 + 1) / 10
        (["--lr_policy", "cosine", "--warmup_steps", "0"], 0.5 * (1 + np.cos(np.pi * 4 / 4))),
    ],
)
def test_lr_schedules_take_effect(tmp_path, small_demo, extra, expected_factor):
    train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "4", "--learning_rate", "0.01", "--optimizer", "sgd", *extra))
    ckpt = torch.load(tmp_path / "demo" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.01 * expected_factor)


def test_pretrained_from_loads_weights_only(tmp_path, small_demo):
    first = train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "3"))
    src = torch.load(first["best_checkpoint"], weights_only=True)["state_dict"]
    from motionlab.training import train as train_mod

    opt = options(small_demo, tmp_path, "--experiment_name", "ft", "--pretrained_from", first["best_checkpoint"])
    train_set = MultimodalDataset(opt, "train")
    from motionlab.models import find_model_using_name

    model = find_model_using_name("transformer").from_dataset(opt, train_set)
    train_mod.load_weights(model, opt.pretrained_from)
    for k, v in model.state_dict().items():
        assert torch.equal(v, src[k])


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, small_demo, monkeypatch):
    train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "3"))
    last = tmp_path / "demo" / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    from motionlab.models.transformer_model import TransformerModel

    original = TransformerModel.compute_loss

    def poisoned(self, batch):
        loss, terms = original(self, batch)
        if self.global_step >= 4:
            terms["mse_demo_motion"] = terms["mse_demo_motion"] * float("nan")
            loss = loss * float("nan")
        return loss, terms

    monkeypatch.setattr(TransformerModel, "compute_loss", poisoned)
    with pytest.raises(MotionlabError, match="non-finite value at step 4.*mse_demo_motion"):
        train(options(small_demo, tmp_path, "--max_epochs", "2", "--limit_train_batches", "3", "--resume"))
    assert last.read_bytes() == good


def test_train_cli_reports_bad_input_without_traceback(tmp_path):
    proc = run_cli("-m", "motionlab.training.train", "--hparams_file", "demo", "--data_dir", str(tmp_path / "none"), "--no-make_demo_data", "--experiments_dir", str(tmp_path))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_ddp_two_processes_shard_the_data(tmp_path, small_demo):
    proc = run_cli(
        "-m", "motionlab.training.train", "--hparams_file", "demo", "--data_dir", str(small_demo), "--experiments_dir", str(tmp_path),
        "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--max_epochs", "1", "--batch_size", "47", "--log_sample_indices", "--no-progress_bar",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads((tmp_path / "demo" / f"sample_indices_rank{r}.json").read_text()) for r in (0, 1)]
    ranks = [[w for w, _, _ in r] for r in rows]
    dataset = MultimodalDataset(options(small_demo, tmp_path), "train")
    n = len(dataset)
    assert n == 846 and len(ranks[0]) == len(ranks[1]) == n // 2  # 423 = 9 batches of 47
    assert not set(ranks[0]) & set(ranks[1])
    assert all(dataset.window(w) == (q, s) for r in rows for w, q, s in r)  # every rank's ids name the same windows as this process
    assert (tmp_path / "demo" / "checkpoints" / "last.ckpt").exists()


def test_early_stopping_and_min_epochs(tmp_path, small_demo):
    # With a learning rate of 0 the weights never change, so val_loss is the same every epoch and never
    # improves (strictly): training stops after patience + 1 epochs ...
    common = ["--max_epochs", "20", "--limit_train_batches", "2", "--limit_val_batches", "1", "--learning_rate", "0", "--monitor", "val_loss", "--monitor_mode", "min", "--early_stopping_patience", "1"]
    result = train(options(small_demo, tmp_path, *common))
    assert result["global_step"] == 2 * 2
    # ... unless --min_epochs asks for more
    result = train(options(small_demo, tmp_path, *common, "--min_epochs", "4", "--experiment_name", "min4"))
    assert result["global_step"] == 4 * 2


def test_plateau_schedule_is_configured_from_options(small_demo, tmp_path):
    from motionlab.models import find_model_using_name

    opt = options(small_demo, tmp_path, "--lr_policy", "plateau", "--lr_decay_factor", "0.3", "--lr_plateau_patience", "2", "--warmup_steps", "0")
    model = find_model_using_name("transformer").from_dataset(opt, MultimodalDataset(opt, "train"))
    config = model.configure_optimizers()
    sched = config["lr_scheduler"]
    assert isinstance(sched["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau) and sched["monitor"] == "val_loss"
    assert sched["scheduler"].factor == 0.3 and sched["scheduler"].patience == 2
    with pytest.raises(MotionlabError, match="warmup"):
        find_model_using_name("transformer").from_dataset(options(small_demo, tmp_path, "--lr_policy", "plateau", "--warmup_steps", "5"), MultimodalDataset(opt, "train")).configure_optimizers()


def test_training_says_why_it_stopped(tmp_path, small_demo):
    by_time = train(options(small_demo, tmp_path, "--experiment_name", "t", "--max_epochs", "1000", "--max_time_minutes", "0.002", "--limit_val_batches", "1"))
    assert by_time["stop_reason"].startswith("time limit: --max_time_minutes 0.002 reached"), by_time["stop_reason"]
    early = train(options(small_demo, tmp_path, "--experiment_name", "e", "--max_epochs", "50", "--learning_rate", "0", "--warmup_steps", "0",
                          "--early_stopping_patience", "1", "--limit_train_batches", "2", "--limit_val_batches", "2"))
    assert early["stop_reason"].startswith("early stopping: val_loss did not improve for 1 validation checks"), early["stop_reason"]
    assert train(options(small_demo, tmp_path, "--experiment_name", "s", "--max_steps", "3"))["stop_reason"] == "max_steps=3 reached"
    assert train(options(small_demo, tmp_path, "--experiment_name", "m", "--max_epochs", "1", "--limit_train_batches", "2"))["stop_reason"].startswith("max_epochs=1 reached")


def test_make_demo_says_how_to_reach_the_commands():
    import subprocess

    dry = subprocess.run(["make", "-n", "demo", "tensorboard", "STAMP=Makefile"], cwd=REPO, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert ". .venv/bin/activate" in dry.stdout and ".venv/bin/tensorboard --logdir training/experiments" in dry.stdout


def test_sample_video_every_n_validations(tmp_path, small_demo):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(options(small_demo, tmp_path, "--max_epochs", "3", "--limit_train_batches", "2", "--limit_val_batches", "1", "--log_video_every_n_val", "2"))
    videos = sorted((Path(result["experiment_dir"]) / "samples").glob("*.mp4"))
    assert [v.name for v in videos] == ["val2_step4.mp4"]  # validations 1 and 3 skipped
    from media_probe import probe_duration

    assert probe_duration(videos[0])["video_frames"] == 8 * 20 and probe_duration(videos[0])["size"] == (960, 480)  # 8 s, generated | ground truth
    events = EventAccumulator(str(Path(result["experiment_dir"]) / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert "val_sample" in " ".join(events.Tags()["images"])


def test_val_metrics_are_logged_from_validation(tmp_path, small_demo):
    result = train(options(small_demo, tmp_path, "--max_epochs", "1", "--limit_train_batches", "3", "--val_metrics", "l1,mse,fid"))
    m = result["metrics"]
    assert m["val_mse"] == pytest.approx(m["val_loss"], rel=1e-4)  # the transformer's loss is the MSE of the same outputs
    assert 0 < m["val_l1"] and 0 <= m["val_fid"]
    with pytest.raises(MotionlabError, match="--val_metrics: unknown metric 'bas'"):
        train(options(small_demo, tmp_path, "--experiment_name", "x", "--val_metrics", "bas"))


def test_multistep_schedule_multiplies_the_rate_after_each_milestone_epoch(small_demo, tmp_path):
    """SDT's schedule (x0.1 after epochs 90 and 98), stepped once per epoch as Lightning does."""
    from motionlab.models import find_model_using_name

    opt = options(small_demo, tmp_path, "--lr_policy", "multistep", "--lr_milestones", "90,98", "--lr_decay_factor", "0.1", "--warmup_steps", "0", "--learning_rate", "0.001")
    model = find_model_using_name("transformer").from_dataset(opt, MultimodalDataset(opt, "train"))
    config = model.configure_optimizers()
    sched, optimizer = config["lr_scheduler"]["scheduler"], config["optimizer"]
    assert config["lr_scheduler"]["interval"] == "epoch"
    rates = []
    for _epoch in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    assert rates[89] == pytest.approx(1e-3) and rates[90] == pytest.approx(1e-4) and rates[97] == pytest.approx(1e-4) and rates[98] == pytest.approx(1e-5)
    with pytest.raises(MotionlabError, match="--lr_policy multistep needs --lr_milestones"):
        find_model_using_name("transformer").from_dataset(options(small_demo, tmp_path, "--lr_policy", "multistep", "--warmup_steps", "0"), MultimodalDataset(opt, "train")).configure_optimizers()
