"""SDT: the per-window codes of SDT-BP (only the batch's rows move, only by their own optimiser),
the KL on batch statistics, SDT-VAE's checks on its VAE, and end-to-end training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlab.models.sdt_model import SdtModel, batch_kl
from motionlab.training.options import parse_options
from motionlab.training.train import build_datasets, train
from motionlab.utils.errors import MotionlabError


def options(data, exp_dir, name, *extra):
    return parse_options(["--hparams_file", "demo/sdt_bp", "--data_dir", str(data), "--experiments_dir", str(exp_dir), "--experiment_name", name, "--no-progress_bar", *extra])


def test_batch_kl_on_known_statistics():
    codes = torch.tensor([[1.0, 0.0], [3.0, 0.0], [1.0, 2.0], [3.0, 2.0]])  # μ = (2, 1), σ² = (1, 1)
    assert float(batch_kl(codes)) == pytest.approx(0.5 * ((0 + 4 + 1 - 1) + (0 + 1 + 1 - 1)) / 2)
    n = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])  # μ = 0, σ² = 1: the prior
    assert float(batch_kl(n)) == pytest.approx(0.0, abs=1e-7)
    assert float(batch_kl(torch.ones(1, 4))) == 0.0  # one window: no variance, the term is skipped


def test_bp_codes_move_only_for_the_batch_windows_and_only_by_their_optimiser(small_demo, tmp_path):
    opt = options(small_demo, tmp_path, "bp")
    train_set, _ = build_datasets(opt)
    torch.manual_seed(0)
    model = SdtModel(opt, train_set.data_spec())
    assert model.templates.num_embeddings == len(train_set) == train_set.data_spec().num_windows
    g, t = model.configure_optimizers()  # demo/sdt_bp: no schedule, so a plain list of the two optimisers
    assert isinstance(t, torch.optim.SparseAdam)
    gen_ids = {id(p) for group in g.param_groups for p in group["params"]}
    assert id(model.templates.weight) not in gen_ids and {id(p) for p in t.param_groups[0]["params"]} == {id(model.templates.weight)}
    ids = [3, 7, 11, 20]
    items = [train_set[i] for i in ids]
    batch = {"inputs": [torch.stack([torch.as_tensor(it["inputs"][0]) for it in items])],
             "outputs": [torch.stack([torch.as_tensor(it["outputs"][0]) for it in items])],
             "window_id": torch.tensor([it["window_id"] for it in items])}
    assert batch["window_id"].tolist() == ids
    model.train()
    before = model.templates.weight.detach().clone()
    loss, _ = model.generator_loss(batch)
    g.zero_grad(), t.zero_grad()
    loss.backward()
    g.step()  # the generator's optimiser alone leaves every code unchanged
    torch.testing.assert_close(model.templates.weight.detach(), before)
    t.step()
    changed = (model.templates.weight.detach() != before).any(1).nonzero().flatten().tolist()
    assert changed == ids


def test_bp_trains_end_to_end_and_validates_with_the_prior_code(small_demo, tmp_path):
    opt = options(small_demo, tmp_path, "bp", "--max_epochs", "1")
    result = train(opt)
    assert result["global_step"] > 0
    assert "val_l1" in result["metrics"] and "val_template_kl" not in result["metrics"]


def test_generate_window_checks_the_template_shape(small_demo, tmp_path):
    opt = options(small_demo, tmp_path, "bp")
    train_set, _ = build_datasets(opt)
    model = SdtModel(opt, train_set.data_spec()).eval()
    audio = torch.as_tensor(train_set[0]["inputs"][0])[None].repeat(2, 1, 1)
    out0 = model.generate_window([audio])[0]
    out1 = model.generate_window([audio], template=torch.zeros(8))[0]
    torch.testing.assert_close(out0, out1)
    assert out0.shape == (2, 32, train_set.data_spec().output_dims[0])
    with pytest.raises(MotionlabError, match=r"template: expected \(2, 8\) codes .*got shape \(2, 16\)"):
        model.generate_window([audio], template=torch.zeros(2, 16))


def test_vae_source_refuses_a_missing_or_mismatched_vae(small_demo, tmp_path):
    exp = tmp_path / "exps"
    vopt = parse_options(["--hparams_file", "demo/pose2pose_vae", "--data_dir", str(small_demo), "--experiments_dir", str(exp), "--experiment_name", "vae", "--no-progress_bar", "--max_epochs", "1", "--input_lengths", "32", "--output_lengths", "32"])
    train(vopt)
    base = ["--template_source", "vae", "--template_vae_dir", str(exp), "--input_modalities", "demo_audio", "--output_modalities", "demo_motion"]
    opt = options(small_demo, tmp_path, "sdtvae", *base, "--template_vae", "vae", "--template_dim", "8")
    train_set, _ = build_datasets(opt)
    with pytest.raises(MotionlabError, match="--template_vae vae: its codes have 16 dims, --template_dim is 8"):
        SdtModel(opt, train_set.data_spec())
    opt = options(small_demo, tmp_path, "sdtvae", *base, "--template_vae", "missing", "--template_dim", "16")
    with pytest.raises(MotionlabError, match="does not exist"):
        SdtModel(opt, train_set.data_spec())
    opt = options(small_demo, tmp_path, "sdtvae", *base, "--template_vae", "vae", "--template_dim", "16")
    model = SdtModel(opt, train_set.data_spec()).train()
    it = train_set[0]
    batch = {"inputs": [torch.as_tensor(it["inputs"][0])[None]], "outputs": [torch.as_tensor(it["outputs"][0])[None]], "window_id": torch.tensor([0])}
    codes = model.batch_templates(batch)
    torch.testing.assert_close(codes, model.template_vae().encode(batch["outputs"][0]))
    assert not any(n.startswith("_vae") for n in model.state_dict())
    # --template gt: the VAE's mean code of the sequence's own ground truth (windows at half-window hops), held for the sequence
    model.eval()
    seq = train_set.sequence_inputs(train_set.sequences[0])
    motion = torch.as_tensor(seq["demo_motion"][:96])
    expected = model.template_vae().encode(torch.stack([motion[s : s + 32] for s in (0, 16, 32, 48, 64)])).mean(0)
    torch.testing.assert_close(model.ground_truth_code(motion), expected)
    inputs = {"demo_audio": torch.as_tensor(seq["demo_audio"][:96]), "demo_motion": motion}
    got = model.generate(inputs, template="gt")["demo_motion"]
    direct = model.generate({"demo_audio": inputs["demo_audio"]}, template="zero")["demo_motion"]
    assert got.shape == direct.shape and not torch.allclose(got, direct)
    with pytest.raises(MotionlabError, match="--template gt: the sequence has no 'demo_motion' ground truth"):
        model.generate({"demo_audio": inputs["demo_audio"]}, template="gt")


# ------------------------------------------------------------------------------ two gesture modes


def window_batches(dataset, ids):
    items = [dataset[i] for i in ids]
    return {"inputs": [torch.stack([torch.as_tensor(it["inputs"][0]) for it in items])],
            "outputs": [torch.stack([torch.as_tensor(it["outputs"][0]) for it in items])],
            "window_id": torch.tensor([it["window_id"] for it in items])}


def test_templates_reproduce_the_mode_a_template_free_model_averages(tmp_path):
    """Same audio, two mirrored motions: with its template SDT reproduces the mode, without it lands between them."""
    from motionlab.datasets.demo_template_data import make_template_demo_data
    from motionlab.training.experiment import Experiment

    data = make_template_demo_data(tmp_path / "data", pairs=6, seconds=4.0)
    exp = tmp_path / "exp"
    torch.manual_seed(0)
    train(options(data, exp, "bp", "--max_epochs", "60", "--template_lr", "0.1"))
    model, opt, _ = Experiment("bp", exp).load_model(Experiment("bp", exp).dir / "checkpoints" / "last.ckpt")
    train_set, _ = build_datasets(opt)
    b = window_batches(train_set, range(len(train_set)))
    y = b["outputs"][0]
    with torch.no_grad():
        own = float((model.generate_window(b["inputs"], template=model.templates(b["window_id"]))[0] - y).abs().mean())
        none = float((model.generate_window(b["inputs"])[0] - y).abs().mean())
    average = float(y.abs().mean())  # the modes are mirror images: their average is the (scaled) rest pose 0
    assert own < 0.3 < 0.7 < none and none == pytest.approx(average, rel=0.2), (own, none, average)


def test_generation_templates_index_interpolation_and_refusals(small_demo, tmp_path):
    opt = options(small_demo, tmp_path, "bp")
    train_set, _ = build_datasets(opt)
    torch.manual_seed(0)
    model = SdtModel(opt, train_set.data_spec()).eval()
    n = model.templates.num_embeddings
    w = model.templates.weight.detach()
    torch.testing.assert_close(model.template_code("index:5", 2), w[5].expand(2, -1))
    torch.testing.assert_close(model.template_code("index:1,4,0.25", 1)[0], 0.75 * w[1] + 0.25 * w[4])
    assert model.template_code("zero", 3).abs().sum() == 0
    with pytest.raises(MotionlabError, match=f"--template index:{n}: index {n} is beyond the {n} training windows \\(0..{n - 1}\\)"):
        model.template_code(f"index:{n}", 1)
    with pytest.raises(MotionlabError, match="expected index:N or index:N,M,alpha"):
        model.template_code("index:1,2", 1)
    with pytest.raises(MotionlabError, match="--template gt: SDT-BP learnt codes only for its training windows"):
        model.generate({"demo_audio": torch.zeros(64, 16), "demo_motion": torch.zeros(64, 12)}, template="gt")
    audio = torch.as_tensor(np.concatenate([train_set[0]["inputs"][0]] * 3))  # 96 frames: several windows
    inputs = {"demo_audio": audio}
    a = model.generate(inputs, template="index:5")["demo_motion"]
    b = model.generate(inputs, template="index:5", template_per="window")["demo_motion"]
    torch.testing.assert_close(a, b)  # a fixed index is the same code in every window
    torch.manual_seed(1)
    s = model.generate(inputs, template="normal")["demo_motion"]
    torch.manual_seed(1)
    p = model.generate(inputs, template="normal", template_per="window")["demo_motion"]
    assert s.shape == p.shape == a.shape and not torch.allclose(s, p)
