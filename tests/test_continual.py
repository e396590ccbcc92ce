"""Continual few-shot learning (C-DiffGAN, issue 12): k-shot sets, batch composition, the stage model and the runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motionlab import continual
from motionlab.analysis import continual_report
from motionlab.datasets.continual_dataset import ContinualDataset, ContinualSampler, k_shot_windows
from motionlab.datasets.demo_data import make_demo_data
from motionlab.models.cdiffgan_model import CdiffganModel, select_rows, top_k_time_mask
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError

STYLES = ["speaker_0", "speaker_1", "speaker_2", "speaker_3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp("continual") / "data", speakers=4, n_sequences=24, seconds=6)


def options(data, styles, *extra):
    return parse_options(["--hparams_file", "demo/cdiffgan", "--data_dir", str(data), "--continual_styles", ",".join(styles),
                          "--full_styles", styles[0], "--pose_cluster_styles", styles[0], "--no-progress_bar", *extra])


# ---- k-shot sets and batches -----------------------------------------------------------------------
def test_k_shot_sets_are_the_same_at_every_stage_and_in_every_run(data):
    stage2 = ContinualDataset(options(data, STYLES[:2], "--k_shot", "5"), "train")
    stage4 = ContinualDataset(options(data, STYLES, "--k_shot", "5"), "train")
    again = ContinualDataset(options(data, STYLES, "--k_shot", "5"), "train")
    other_seed = ContinualDataset(options(data, STYLES, "--k_shot", "5", "--k_shot_seed", "2"), "train")
    assert np.array_equal(stage2.chosen["speaker_1"], stage4.chosen["speaker_1"])
    for s in STYLES:
        assert np.array_equal(stage4.chosen[s], again.chosen[s])
    assert any(not np.array_equal(stage4.chosen[s], other_seed.chosen[s]) for s in STYLES[1:])
    speakers = stage4.window_speakers()
    assert len(stage4.chosen["speaker_0"]) == int((speakers == 0).sum())  # the first style: every window
    for j, s in enumerate(STYLES[1:], start=1):
        chosen = stage4.chosen[s]
        assert len(chosen) == 5 and len(set(chosen.tolist())) == 5 and (speakers[chosen] == j).all()


def test_k_larger_than_a_styles_windows_is_refused_unless_replacement_is_asked():
    with pytest.raises(MotionlabError, match=r"style 'b' has only 3 training windows; lower --k_shot, or pass --k_shot_replacement"):
        k_shot_windows(np.arange(3), 5, 1, "b")
    drawn = k_shot_windows(np.arange(3), 5, 1, "b", replacement=True)
    assert len(drawn) == 5 and set(drawn.tolist()) <= {0, 1, 2}


def test_batches_hold_max_b_over_n_newest_windows_then_older_ones():
    newest, older = np.arange(100, 110), np.arange(0, 30)
    sampler = ContinualSampler(newest, older, batch_size=8, n_new=2, iterations=5, seed=3)
    order = np.array(list(iter(sampler)))
    assert len(order) == 40 == len(sampler)
    for b in order.reshape(5, 8):
        assert np.isin(b[:2], newest).all() and np.isin(b[2:], older).all()
    assert np.array_equal(order, np.array(list(iter(ContinualSampler(newest, older, 8, 2, 5, seed=3)))))
    # two DDP ranks: each rank's own batches keep the composition, and the ranks see different windows
    ranks = [np.array(list(iter(ContinualSampler(newest, older, 8, 2, 5, seed=3, num_replicas=2, rank=r)))) for r in (0, 1)]
    for r in ranks:
        for b in r.reshape(5, 8):
            assert np.isin(b[:2], newest).all() and np.isin(b[2:], older).all()
    assert not np.array_equal(ranks[0], ranks[1])
    # no replay: every window of the batch is the newest style's
    alone = np.array(list(iter(ContinualSampler(newest, np.zeros(0, np.int64), 8, 2, 5, seed=3))))
    assert np.isin(alone, newest).all()


def test_the_dataset_composes_batches_from_the_seen_styles(data):
    ds = ContinualDataset(options(data, STYLES[:3], "--k_shot", "4", "--batch_size", "6"), "train")
    sampler = ds.train_sampler(0)
    assert sampler.n_new == 2  # max(6 // 3, 1)
    speakers = ds.window_speakers()
    for b in np.array(list(iter(sampler))).reshape(-1, 6):
        assert (speakers[b[:2]] == 2).all() and np.isin(speakers[b[2:]], [0, 1]).all()
    val = ContinualDataset(options(data, STYLES[:2]), "val")
    assert set(np.unique(val.window_speakers()).tolist()) == {0, 1}


def test_unknown_style_is_refused_naming_the_known_ones(data):
    with pytest.raises(MotionlabError, match=r"style 'nobody' is not in .*speakers.json \(known: speaker_0, speaker_1, speaker_2, speaker_3\)"):
        ContinualDataset(options(data, ["speaker_0", "nobody"]), "train")


def test_top_k_mask_selects_exactly_k_steps_at_the_largest_distances():
    d = torch.tensor([[0.1, 5.0, 0.3, 4.0, 0.2], [9.0, 0.0, 0.0, 1.0, 2.0]])
    m = top_k_time_mask(d, 2)
    assert m.tolist() == [[0, 1, 0, 1, 0], [1, 0, 0, 0, 1]]
    assert (top_k_time_mask(torch.rand(3, 64), 10).sum(dim=1) == 10).all()
    assert (top_k_time_mask(torch.rand(2, 4), 10).sum(dim=1) == 4).all()


def test_select_rows_keeps_the_batch_aligned():
    batch = {"inputs": [torch.arange(4)[:, None]], "outputs": [torch.arange(4)[:, None] * 10], "speaker": torch.tensor([0, 1, 0, 1]), "name": "x"}
    sub = select_rows(batch, batch["speaker"] == 1)
    assert sub["inputs"][0].ravel().tolist() == [1, 3] and sub["outputs"][0].ravel().tolist() == [10, 30] and sub["name"] == "x"


# ---- the stage model ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stages(data, tmp_path_factory):
    """Stage 1 (speaker_0, full data) and stage 2 (+ speaker_1 from 6 windows) trained briefly."""
    exps = tmp_path_factory.mktemp("stages")
    common = ["--experiments_dir", str(exps), "--max_epochs", "1", "--iterations_per_epoch", "6", "--seed", "0", "--renorm_style", "speaker_0"]
    torch.set_num_threads(1)
    train(options(data, STYLES[:1], *common, "--experiment_name", "s1"))
    first = exps / "s1" / "checkpoints" / "last.ckpt"
    opt2 = options(data, STYLES[:2], *common, "--experiment_name", "s2", "--k_shot", "6", "--source_checkpoint", str(first), "--pretrained_from", str(first))
    train(opt2)
    return exps, first, exps / "s2" / "checkpoints" / "last.ckpt", opt2


def test_a_later_stage_changes_only_the_chosen_modules_and_the_discriminator(stages):
    _, first, second, _ = stages
    before = torch.load(first, weights_only=True)["state_dict"]
    after = torch.load(second, weights_only=True)["state_dict"]
    trained = ("mixture.", "cluster_classifier.", "pose_style_encoder.", "style_embedding.", "discriminator.")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "stage 2 changed nothing"
    assert all(k.startswith(trained) for k in changed), sorted(k for k in changed if not k.startswith(trained))[:5]
    # the frozen modules' BatchNorm statistics did not follow the new style (the original's bug)
    frozen_stats = [k for k in before if k.startswith(("audio_encoder.", "unet.")) and "running_" in k]
    assert frozen_stats and all(torch.equal(before[k], after[k]) for k in frozen_stats)
    assert any(k.startswith("mixture.") for k in changed) and any(k.startswith("discriminator.") for k in changed)
    assert not any(k.startswith("_source") for k in after)  # the frozen copy is not part of the stage's weights


def test_the_frozen_copy_and_its_statistics_do_not_change_while_a_stage_trains(stages, data):
    _, first, _, opt2 = stages
    from motionlab.datasets.continual_dataset import ContinualDataset as DS

    ds = DS(opt2, "train")
    model = CdiffganModel.from_dataset(opt2, ds).train()
    src = model.source_model()
    assert not src.training and not any(p.requires_grad for p in src.parameters())
    reference = {k: v.clone() for k, v in src.state_dict().items()}
    assert all(torch.equal(reference[k], v) for k, v in torch.load(first, weights_only=True)["state_dict"].items() if k in reference)
    loader = torch.utils.data.DataLoader(ds, batch_size=opt2.batch_size, sampler=ds.train_sampler(0))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-2)
    for _, batch in zip(range(3), loader):
        model.train()
        loss, terms = model.generator_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert "shift" in terms and torch.isfinite(terms["shift"])
    assert not src.training
    assert all(torch.equal(reference[k], v) for k, v in src.state_dict().items())


def test_replayed_windows_get_the_previous_generators_outputs_as_targets(stages, data):
    _, _, _, opt2 = stages
    ds = ContinualDataset(opt2, "train")
    model = CdiffganModel.from_dataset(opt2, ds).train()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=opt2.batch_size, sampler=ds.train_sampler(0))))
    s = batch["speaker"]
    real = model.real_motion(batch)
    target, _ = model.loss_targets(batch, real, s)
    new, old = s == 1, s == 0
    assert new.any() and old.any()
    assert torch.equal(target[new], real[new])
    with torch.no_grad():
        expected = model.source_model()._forward([x[old] for x in batch["inputs"]], s[old])[0]
    assert torch.allclose(target[old], expected) and not torch.allclose(target[old], real[old])


def test_a_stage_checkpoint_of_another_style_sequence_is_refused(stages, data):
    _, first, _, _ = stages
    opt = options(data, ["speaker_2", "speaker_3"], "--source_checkpoint", str(first))
    model = CdiffganModel.from_dataset(opt, ContinualDataset(opt, "train"))
    with pytest.raises(MotionlabError, match=r"trained on styles \['speaker_0'\], but this stage continues \['speaker_2'\] with 'speaker_3'"):
        model.source_model()


def test_generation_takes_and_returns_the_data_folders_scaled_features(stages, data):
    _, first, _, _ = stages
    ckpt = torch.load(first, weights_only=True)
    opt = options(data, STYLES[:1], "--renorm_style", "speaker_0")
    ds = ContinualDataset(opt, "train")
    model = CdiffganModel.from_dataset(opt, ds).eval()
    stats = ds.style_statistics("speaker_0")
    assert np.allclose(model.renorm_out_mean.numpy(), stats["demo_motion"][0]) and np.allclose(ckpt["state_dict"]["renorm_out_std"].numpy(), stats["demo_motion"][1])
    x = torch.randn(2, 32, model.renorm_in_mean.numel())
    y = torch.randn(2, 32, model.out_dim)
    with torch.no_grad():
        out = model.generate_window([x], speaker=0)[0]
        inner = model._forward([x], torch.zeros(2, dtype=torch.long))[0]
        assert torch.allclose(out, inner * model.renorm_out_std + model.renorm_out_mean, atol=1e-6)
        assert torch.allclose(model.style_codes(y), model.pose_style_encoder((y - model.renorm_out_mean) / model.renorm_out_std))


# ---- the runner and the report -------------------------------------------------------------------
def test_the_report_computes_accuracy_and_forgetting_per_seed():
    # l1 (lower is better) of two styles over two stages, two seeds
    results = {
        1: [{"metrics": {"a": {"l1": 0.2}}}, {"metrics": {"a": {"l1": 0.5}, "b": {"l1": 0.3}}}],
        2: [{"metrics": {"a": {"l1": 0.4}}}, {"metrics": {"a": {"l1": 0.4}, "b": {"l1": 0.1}}}],
    }
    r = continual_report.build(results, ["a", "b"], {"l1": False, "style_accuracy": True})
    m = r["metrics"]["l1"]
    assert m["accuracy"]["per_seed"] == {"1": pytest.approx(0.4), "2": pytest.approx(0.25)}
    assert m["forgetting"]["per_seed"] == {"1": pytest.approx(0.3), "2": pytest.approx(0.0)}
    assert m["forgetting"]["mean"] == pytest.approx(0.15) and m["forgetting"]["std"] == pytest.approx(0.15)
    assert m["table"]["a"]["2"]["mean"] == pytest.approx(0.45) and "1" not in m["table"]["b"]
    assert "style_accuracy" not in r["metrics"]
    assert "| a | 0.300 ± 0.100 | 0.450 ± 0.050 |" in continual_report.summary(r)


def test_continual_run_resumes_finished_stages_and_refuses_other_settings(data, tmp_path, capsys):
    argv = ["demo/cdiffgan", "--styles", "speaker_0,speaker_1", "--k_shot", "4", "--seeds", "1", "--experiments_dir", str(tmp_path),
            "--data_dir", str(data), "--max_epochs", "1", "--iterations_per_epoch", "3", "--no-progress_bar", "--eval_max_length", "64"]
    assert continual.main(argv) == 0
    root = tmp_path / "continual_cdiffgan_k4"
    done = json.loads((root / "seed1" / "stage2_speaker_1" / "stage.json").read_text())
    assert done["styles"] == ["speaker_0", "speaker_1"] and set(done["metrics"]) == {"speaker_0", "speaker_1"}
    report = json.loads((root / "report.json").read_text())
    assert report["metrics"]["l1"]["table"]["speaker_1"]["2"]["n"] == 1 and (root / "report.png").stat().st_size > 0
    stamp = (root / "seed1" / "stage2_speaker_1" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    assert continual.main(argv) == 0  # everything done: nothing retrained
    assert (root / "seed1" / "stage2_speaker_1" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert continual.main([a if a != "4" else "5" for a in argv] + ["--experiment_name", "continual_cdiffgan_k4"]) == 2
    err = capsys.readouterr().err
    assert "started with other settings (k_shot: 4 then, 5 now)" in err and "Traceback" not in err


def test_a_run_stopped_inside_stage_3_resumes_to_the_same_weights_as_an_uninterrupted_run(data, tmp_path, monkeypatch):
    from motionlab.training import train as train_module

    styles = "speaker_0,speaker_1,speaker_2"
    common = ["demo/cdiffgan", "--styles", styles, "--k_shot", "4", "--seeds", "1", "--data_dir", str(data), "--no-progress_bar",
              "--max_epochs", "2", "--iterations_per_epoch", "3", "--no-evaluate", "--experiment_name", "run"]
    assert continual.main([*common, "--experiments_dir", str(tmp_path / "whole")]) == 0

    real_train = train_module.train

    def killed_in_stage_3(opt):  # the job dies after stage 3's first epoch, its checkpoint written
        if opt.experiment_name.startswith("stage3"):
            opt.max_epochs = 1
            real_train(opt)
            raise KeyboardInterrupt("killed")
        return real_train(opt)

    monkeypatch.setattr(train_module, "train", killed_in_stage_3)
    with pytest.raises(KeyboardInterrupt):
        continual.main([*common, "--experiments_dir", str(tmp_path / "cut")])
    stage3 = tmp_path / "cut" / "run" / "seed1" / "stage3_speaker_2"
    assert (stage3 / "checkpoints" / "last.ckpt").exists() and not (stage3 / "stage.json").exists()
    monkeypatch.setattr(train_module, "train", real_train)
    assert continual.main([*common, "--experiments_dir", str(tmp_path / "cut")]) == 0

    whole = torch.load(tmp_path / "whole" / "run" / "seed1" / "stage3_speaker_2" / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(stage3 / "checkpoints" / "last.ckpt", weights_only=True)
    assert (whole["global_step"], whole["epoch"]) == (resumed["global_step"], resumed["epoch"]), (whole["loops"]["fit_loop"]["epoch_loop.batch_progress"], resumed["loops"]["fit_loop"]["epoch_loop.batch_progress"])
    for k, v in whole["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    for a, b in zip(whole["optimizer_states"], resumed["optimizer_states"]):
        for pa, pb in zip(a["state"].values(), b["state"].values()):
            assert all(torch.equal(pa[n], pb[n]) for n in pa if torch.is_tensor(pa[n]))


def test_replay_forgets_the_first_speaker_far_less_than_fine_tuning_on_the_demo(data, tmp_path):
    """Issue 12's demo claim: after stage 4, speaker_0's L1 on its held-out windows has risen far less
    with C-DiffGAN (pseudo-alignment replay) than with fine-tuning on each new speaker alone (DiffGAN)."""
    from motionlab.training.experiment import Experiment

    torch.set_num_threads(1)
    common = ["demo/cdiffgan", "--styles", ",".join(STYLES), "--k_shot", "8", "--seeds", "1", "--data_dir", str(data), "--experiments_dir", str(tmp_path),
              "--no-evaluate", "--no-progress_bar", "--max_epochs", "2", "--iterations_per_epoch", "40"]
    test = ContinualDataset(options(data, STYLES[:1]), "test")  # speaker_0's held-out windows
    batch = next(iter(torch.utils.data.DataLoader(test, batch_size=len(test))))

    def l1(method, stage):
        exp = Experiment(tmp_path / f"continual_{method}_k8" / "seed1" / stage)
        model = exp.load_model("last")[0]
        with torch.no_grad():
            return float((model.generate_window(batch["inputs"], speaker=batch["speaker"])[0] - batch["outputs"][0]).abs().mean())

    forgetting = {}
    for method in ("cdiffgan", "diffgan"):
        assert continual.main([*common, "--method", method]) == 0
        forgetting[method] = l1(method, "stage4_speaker_3") - l1(method, "stage1_speaker_0")
    # measured: cdiffgan 0.13, diffgan 0.73 (L1 in scaled units; speaker_0 starts at about 0.1)
    assert forgetting["diffgan"] > 3 * forgetting["cdiffgan"] and forgetting["diffgan"] - forgetting["cdiffgan"] > 0.25, forgetting


def test_methods_map_to_their_stage_options(tmp_path):
    args = continual.parse_args(["demo/cdiffgan", "--styles", "a,b,c", "--k_shot", "7", "--method", "joint", "--max_epochs", "3"])
    prev = tmp_path / "prev.ckpt"
    opts = continual.stage_options(args, 2, 1, prev, tmp_path)
    value = lambda flag: opts[opts.index(flag) + 1]  # noqa: E731
    assert value("--full_styles") == "a,b" and value("--trainable_modules") == "all" and "--source_checkpoint" not in opts
    assert value("--replay") == "real" and "--no-grounding_shift" in opts and value("--k_shot_seed") == "2" and opts[-2:] == ["--max_epochs", "3"]
    args = continual.parse_args(["demo/cdiffgan", "--styles", "a,b,c", "--method", "diffgan"])
    opts = continual.stage_options(args, 1, 2, prev, tmp_path)
    assert value("--full_styles") == "" and value("--replay") == "none" and "--grounding_shift" in opts
    assert value("--source_checkpoint") == str(prev) == value("--pretrained_from") and value("--continual_styles") == "a,b,c"
    first = continual.stage_options(continual.parse_args(["demo/cdiffgan", "--styles", "a,b"]), 1, 0, None, tmp_path)
    assert first[first.index("--full_styles") + 1] == "a" and "--source_checkpoint" not in first


def test_buffer_replay_trains_older_windows_on_their_ground_truth(stages, data):
    _, _, _, opt2 = stages
    opt = argparse_copy(opt2, replay="real")
    ds = ContinualDataset(opt, "train")
    model = CdiffganModel.from_dataset(opt, ds).train()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=opt.batch_size, sampler=ds.train_sampler(0))))
    real = model.real_motion(batch)
    target, labels = model.loss_targets(batch, real, batch["speaker"])
    assert torch.equal(target, real) and torch.equal(labels, batch["pose_cluster"].long())


def argparse_copy(opt, **changes):
    import argparse

    return argparse.Namespace(**{**vars(opt), **changes})
