"""Flow models (Transflower, Transformerflow, Transglower, MoGlow, ResidualFlower) on a small demo dataset:
NLL goes down, generation shapes and determinism, teacher-forced generation equals the windowed pass,
MoGlow's carried state, the composite's prefixed options, option validation and the demo hparams."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.dataspec import DataSpec
from motionlab.inference import generate as gen
from motionlab.models import find_model_using_name
from motionlab.models.modules.flow_model import ResidualFrames, frame_conditioning
from motionlab.training.experiment import Experiment
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError

FLOW_MODELS = ["transflower", "transformerflow", "transglower", "moglow", "residualflower"]
AUDIO, MOTION = 16, 12  # demo feature sizes


@pytest.fixture(scope="module", autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from motionlab.datasets.demo_data import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("flowdemo") / "data", n_sequences=6, seconds=6.0)


def options(name, *extra, data=None, exp=None):
    hp = "demo" if name == "transformer" else f"demo/{name}"
    argv = ["--hparams_file", hp, "--no-progress_bar"]
    if data is not None:
        argv += ["--data_dir", str(data)]
    if exp is not None:
        argv += ["--experiments_dir", str(exp)]
    return parse_options(argv + list(extra))


def demo_spec(audio=AUDIO, motion=MOTION) -> DataSpec:
    return DataSpec(("demo_audio", "demo_motion"), ("demo_motion",), (audio, motion), (motion,))


def make(name, *extra, **overrides):
    """A model at its demo size on the demo feature sizes, without data (options may be overridden raw)."""
    opt = options(name, *extra)
    for k, v in overrides.items():
        setattr(opt, k, v)
    return find_model_using_name(opt.model)(opt, demo_spec())


def perturb_heads(model, std=0.05):
    """Move the zero-initialised (identity) coupling heads so the flows are not trivial."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, std)
    return model


def sequence(ds, frames):
    arrays = ds.sequence_inputs(ds.seq_ids[0])
    return {k: torch.from_numpy(v[:frames]) for k, v in arrays.items()}


# ------------------------------------------------------------------------------ training and generation


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_training_reduces_nll_and_generation_shapes(demo, name):
    torch.manual_seed(0)
    opt = options(name, data=demo)
    ds = MultimodalDataset(opt, "train")
    model = find_model_using_name(name).from_dataset(opt, ds)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))))
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, terms = model.compute_loss(batch)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert terms["bits_per_dim"].item() == pytest.approx(terms["nll_nats_per_dim"].item() / math.log(2), rel=1e-5)
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.5, losses

    inputs = sequence(ds, 50)
    out = model.generate(inputs, num_samples=3)["demo_motion"]
    assert out.shape == (3, 50, MOTION) and torch.isfinite(out).all()
    assert model.generate(inputs)["demo_motion"].shape == (50, MOTION)
    a = model.generate(inputs, temperature=0.0, num_samples=2)["demo_motion"]
    b = model.generate(inputs, temperature=0.0, num_samples=2)["demo_motion"]
    assert torch.equal(a, b)  # temperature 0: deterministic
    # ... and the samples of one batch identical, up to float rounding: batched kernels (the GEMM of a
    # 2-row batch) may round identical rows differently in the last bit (~2e-7 here on values ~2)
    torch.testing.assert_close(a[0], a[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_demo_hparams_train_log_and_reload(demo, tmp_path, name):
    assert options(name).experiment_name == f"demo_{name}"
    opt = options(name, "--limit_train_batches", "3", "--max_epochs", "1", "--limit_val_batches", "2", "--batch_size", "16", "--warmup_steps", "0", data=demo, exp=tmp_path)
    result = train(opt)
    m = result["metrics"]
    for key in ("train_nll_nats_per_dim", "train_bits_per_dim", "val_nll_nats_per_dim", "val_bits_per_dim", "val_loss"):
        assert key in m and math.isfinite(m[key]), (key, m)
    model, opt2, _ = Experiment(tmp_path / f"demo_{name}").load_model()
    out = gen.generate_sequence(model, opt2, gen.build_dataset(opt2), "demo_05", max_length=40, num_samples=2)
    assert out["demo_motion"].shape == (2, 40, MOTION)


# ------------------------------------------------------------------------------ teacher forcing


def windowed_pass(model, inputs, spec, T):
    """Every dataset window inside [0, T) (start s: modality m covers [s + o_m, s + o_m + L_m)), batched."""
    first = max(0, -min(spec.input_offsets + spec.output_offsets))
    last = T - max(o + L for o, L in zip(spec.input_offsets + spec.output_offsets, spec.input_lengths + spec.output_lengths))
    starts = list(range(first, last + 1))
    windows = [torch.stack([inputs[n][s + o : s + o + L] for s in starts]) for n, o, L in zip(spec.input_modalities, spec.input_offsets, spec.input_lengths)]
    with torch.inference_mode():
        preds, _ = model.generation_step(windows, None, temperature=0.0)
    return starts, preds[0]


@pytest.mark.parametrize(
    "name, extra",
    [
        ("transformer", []),
        ("transflower", []),
        ("transflower", ["--residual", "--use_pos_emb_output", "--flow_dist", "studentt", "--glow_norm_layer", "batchnorm", "--no-lu_decomposition"]),
        ("transformerflow", []),
        ("transglower", []),
        ("residualflower", []),
    ],
)
def test_teacher_forced_generation_equals_windowed_pass(demo, name, extra):
    torch.manual_seed(0)
    opt = options(name, *extra, data=demo)
    ds = MultimodalDataset(opt, "train")
    model = perturb_heads(find_model_using_name(name).from_dataset(opt, ds)).eval()
    T = 45
    inputs = sequence(ds, T)
    starts, preds = windowed_pass(model, inputs, model.spec, T)
    o, N = model.spec.output_offsets[0], model.spec.output_lengths[0]
    for k in sorted({1, N}):
        out = model.generate(inputs, temperature=0.0, teacher_forcing=True, frames_per_step=k)["demo_motion"]
        for s in starts[::k]:
            torch.testing.assert_close(out[s + o : s + o + k], preds[s - starts[0], :k], atol=1e-4, rtol=1e-4)


def test_residual_flow_models_the_difference_from_the_last_input_frame(demo):
    torch.manual_seed(0)
    opt = options("transflower", "--residual", data=demo)
    ds = MultimodalDataset(opt, "train")
    model = perturb_heads(find_model_using_name("transflower").from_dataset(opt, ds)).eval()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    x, (y,) = batch["inputs"], batch["outputs"]
    last = x[1][:, -1:]  # the last input frame of the motion
    with torch.no_grad():
        (cond,) = model.condition(x)
        nll, _ = model.compute_loss(batch)
        expected = -(model.flows[0].log_prob(y - last, cond) / (y.shape[1] * y.shape[2])).mean()
        torch.testing.assert_close(nll, expected)
    with torch.inference_mode():
        (sample,) = model.sample_windows(x, temperature=0.0)
        torch.testing.assert_close(sample, model.flows[0].sample(cond, 1, temperature=0.0) + last, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("extra", [[], ["--residual"]])
def test_moglow_carried_state_equals_windowed_pass(demo, extra):
    torch.manual_seed(0)
    opt = options("moglow", *extra, data=demo)
    ds = MultimodalDataset(opt, "train")
    model = perturb_heads(find_model_using_name("moglow").from_dataset(opt, ds)).eval()
    T = 40
    inputs = sequence(ds, T)
    spec = model.spec
    windows = [inputs[n][o : o + L].unsqueeze(0) for n, o, L in zip(spec.input_modalities, spec.input_offsets, spec.input_lengths)]
    with torch.inference_mode():
        (window,), _ = model.sample_windows(windows, temperature=0.0)  # the whole output window at once
    o, N = spec.output_offsets[0], spec.output_lengths[0]
    out = model.generate(inputs, temperature=0.0, teacher_forcing=True)["demo_motion"]  # frame by frame, LSTM state carried
    torch.testing.assert_close(out[o : o + N], window[0], atol=1e-4, rtol=1e-4)
    # the model declares one frame per step: asking for more changes nothing
    assert model.max_frames_per_step == 1
    torch.testing.assert_close(model.generate(inputs, temperature=0.0, teacher_forcing=True, frames_per_step=N)["demo_motion"], out)


def test_moglow_residual_is_relative_to_each_frames_last_conditioning_frame(demo):
    torch.manual_seed(0)
    opt = options("moglow", "--residual", data=demo)
    ds = MultimodalDataset(opt, "train")
    model = perturb_heads(find_model_using_name("moglow").from_dataset(opt, ds)).eval()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    x, (y,) = batch["inputs"], batch["outputs"]
    m = model.spec.input_modalities.index("demo_motion")
    c, N = model.contexts[m], y.shape[1]
    ref = x[m][:, c - 1 : c - 1 + N]  # frame t's reference: the last motion frame conditioning it
    with torch.no_grad():
        cond = model.condition(x)
        nll, _ = model.compute_loss(batch)
        expected = -(model.flows[0].log_prob(y - ref, cond) / (N * y.shape[2])).mean()
        torch.testing.assert_close(nll, expected)


def test_residual_frames_is_one_helper_with_each_models_reference():
    """--residual: Transflower's reference is the last input frame for every output frame, MoGlow's the last
    frame conditioning each output frame; sampling undoes the targets exactly; off, everything passes through."""
    torch.manual_seed(0)
    for name, windows in (("transflower", dict(output_lengths=[3])), ("moglow", {})):
        model = make(name, residual=True, **windows)
        s = model.spec
        x = [torch.randn(2, L, d) for L, d in zip(s.input_lengths, (AUDIO, MOTION))]
        N = s.output_lengths[0]
        y = [torch.randn(2, N, MOTION)]
        (target,) = model.residual.targets(x, y)
        for t in range(N):
            ref = x[1][:, -1] if name == "transflower" else x[1][:, model.contexts[1] - 1 + t]
            torch.testing.assert_close(target[:, t], y[0][:, t] - ref)
        torch.testing.assert_close(model.residual.outputs(x, [target])[0], y[0])
        off = make(name).residual
        assert not off.enabled and off.targets(x, y)[0] is y[0] and off.outputs(x, y)[0] is y[0]
    assert make("moglow", residual=True).contexts[1] - 1 < make("moglow").spec.input_lengths[1] - 1  # the two references differ here


def test_moglow_frame_conditioning_matches_loop():
    a, m = torch.randn(2, 7, 3), torch.randn(2, 5, 2)
    cond = frame_conditioning([a, m], [4, 2])  # N = 4 frames
    assert cond.shape == (2, 4, 4 * 3 + 2 * 2)
    for t in range(4):
        expected = torch.cat([a[:, t : t + 4].flatten(1), m[:, t : t + 2].flatten(1)], -1)
        torch.testing.assert_close(cond[:, t], expected)


# ------------------------------------------------------------------------------ residualflower options


def test_residualflower_prefixed_options_reach_the_sub_models(capsys, tmp_path):
    opt = parse_options(["--model", "residualflower", "--mean_dhid", "32", "--mean_nhead", "2", "--residual_num_glow_coupling_blocks", "3", "--residual_flow_hidden", "16"])
    assert opt.mean_dhid == 32 and opt.residual_num_glow_coupling_blocks == 3 and opt.residual_dhid == 256
    opt.input_modalities, opt.output_modalities = ["demo_audio", "demo_motion"], ["demo_motion"]
    opt.input_lengths, opt.output_lengths, opt.output_time_offsets = [20, 10], [1], [10]
    opt.residual_dhid, opt.residual_nlayers, opt.residual_input_nlayers, opt.mean_nlayers = 32, 1, 1, 1
    model = find_model_using_name("residualflower")(opt, demo_spec())
    assert type(model.mean_model).__name__ == "TransformerModel" and type(model.residual_model).__name__ == "TransflowerModel"
    assert model.mean_model.opt.dhid == 32 and model.mean_model.opt.nhead == 2
    assert len(model.residual_model.flows[0].steps) == 3 and model.residual_model.opt.flow_hidden == 16
    # another sub-model brings its own options, from the command line or the YAML (first parsing stage)
    opt = parse_options(["--model", "residualflower", "--residual_model", "transformerflow", "--residual_flow_kernel_size", "5"])
    assert opt.residual_flow_kernel_size == 5 and not hasattr(opt, "residual_flow_nhead")
    with pytest.raises(MotionlabError):  # a conv-coupling flow has no attention heads
        parse_options(["--model", "residualflower", "--residual_model", "transformerflow", "--residual_flow_nhead", "2"])
    with pytest.raises(MotionlabError, match="unknown option 'residual_flow_nhead'"):  # the YAML's transflower options no longer apply
        parse_options(["--hparams_file", "demo/residualflower", "--residual_model", "transformerflow"])
    hp = tmp_path / "rf.yaml"
    hp.write_text("model: residualflower\nresidual_model: transglower\nresidual_flow_nlayers: 2\nmean_dhid: 16\n")
    opt = parse_options(["--hparams_file", str(hp)])
    assert opt.residual_model == "transglower" and opt.residual_flow_nlayers == 2 and not hasattr(opt, "residual_num_mixture_components")
    with pytest.raises(SystemExit):
        parse_options(["--model", "residualflower", "--help"])
    help_text = capsys.readouterr().out
    assert "--mean_dhid" in help_text and "--residual_num_glow_coupling_blocks" in help_text and "--residual_residual" in help_text


# ------------------------------------------------------------------------------ invalid options


@pytest.mark.parametrize(
    "name, overrides, match",
    [
        ("transflower", dict(conditioning_seq_lens=[31]), "conditioning_seq_lens"),
        ("transflower", dict(output_lengths=[0]), "output_lengths"),
        ("transflower", dict(dhid=30, nhead=4), "--dhid"),
        ("transflower", dict(flow_hidden=30, flow_nhead=4), "--flow_hidden"),
        ("transflower", dict(glow_norm_layer="layernorm"), "glow_norm_layer"),
        ("transflower", dict(flow_dist="cauchy"), "flow_dist"),
        ("transflower", dict(flow_pos_emb="rotary"), "flow_pos_emb"),
        ("transflower", dict(num_glow_coupling_blocks=0), "num_glow_coupling_blocks"),
        ("transflower", dict(flow_dist="studentt", flow_dist_param=-1.0), "flow_dist_param"),
        ("transflower", dict(residual=True, output_modalities=["demo_other"]), "--residual"),
        ("transformerflow", dict(flow_kernel_size=4), "flow_kernel_size"),
        ("transglower", dict(conditioning_seq_lens=[3]), "conditioning_seq_lens"),
        ("moglow", dict(input_lengths=[29, 5]), "input_lengths"),
        ("moglow", dict(input_seq_lens=[20, 9]), "input_seq_lens"),
        ("residualflower", dict(mean_model="no_such_model"), "no model named 'no_such_model'"),
    ],
)
def test_invalid_options_raise(name, overrides, match):
    with pytest.raises(MotionlabError, match=match):
        make(name, **overrides)


def test_output_dim_one_cannot_form_a_flow():
    opt = options("transflower")
    with pytest.raises(MotionlabError, match="at least 2"):
        find_model_using_name("transflower")(opt, demo_spec(motion=1))


def test_invalid_choices_on_the_command_line():
    with pytest.raises(MotionlabError):
        options("transflower", "--glow_norm_layer", "layernorm")
    with pytest.raises(MotionlabError, match="no model named"):
        options("residualflower", "--mean_model", "no_such_model")
    assert isinstance(options("transflower"), argparse.Namespace)


def test_residual_decay_scales_the_reference_and_round_trips():
    """--residual_decay d: the target is y - d * reference (0 is the train mean in scaled space); sampling undoes it."""
    torch.manual_seed(0)
    model = make("transflower", residual=True, residual_decay=0.9)
    s = model.spec
    x = [torch.randn(2, L, d) for L, d in zip(s.input_lengths, (AUDIO, MOTION))]
    y = [torch.randn(2, s.output_lengths[0], MOTION)]
    (target,) = model.residual.targets(x, y)
    torch.testing.assert_close(target, y[0] - 0.9 * x[1][:, -1:])
    torch.testing.assert_close(model.residual.outputs(x, [target])[0], y[0])
    # a constant bias b in the sampled changes: the plain change random-walks, the decayed one settles at b / (1 - d)
    for decay, bound in ((1.0, None), (0.9, 1.0)):
        frames, r = ResidualFrames([0], None, decay), torch.zeros(1, 1, 1)
        for _ in range(500):
            r = frames.outputs([r], [torch.full((1, 1, 1), 0.1)])[0]
        assert (r.item() == pytest.approx(50.0, rel=1e-3)) if bound is None else (r.item() == pytest.approx(bound, rel=1e-3))


def test_smoothed_noise_keeps_the_marginal_and_correlates_consecutive_draws():
    from motionlab.models.modules.flows.distributions import StandardNormal, smoothed_noise

    torch.manual_seed(0)
    z = smoothed_noise(StandardNormal(), (4000, 50, 3), 1.0, 0.9)
    assert z.std().item() == pytest.approx(1.0, abs=0.02) and z.mean().abs().item() < 0.02  # still N(0, 1) per frame
    corr = (z[:, 1:] * z[:, :-1]).mean().item()
    assert corr == pytest.approx(0.9, abs=0.02)  # consecutive draws correlated by rho
    prev = torch.full((4000, 3), 2.0)
    first = smoothed_noise(StandardNormal(), (4000, 1, 3), 1.0, 0.9, prev)
    assert first.mean().item() == pytest.approx(1.8, abs=0.03)  # continues from the previous step's draw
    assert smoothed_noise(StandardNormal(), (2, 3, 3), 1.0, 0.0, prev[:2]).shape == (2, 3, 3)  # rho 0: independent draws


def test_noise_smoothing_makes_a_rollout_smoother_not_slower(demo):
    """Generation with --noise_smoothing: same per-frame spread of the draws, much smaller frame-to-frame jumps."""
    torch.manual_seed(0)
    opt = options("transflower", data=demo)
    ds = MultimodalDataset(opt, "train")
    model = perturb_heads(find_model_using_name("transflower").from_dataset(opt, ds)).eval()
    inputs = sequence(ds, 120)
    jumps = {}
    for rho in (0.0, 0.95):
        torch.manual_seed(1)
        out = model.generate(inputs, temperature=1.0, teacher_forcing=True, noise_smoothing=rho, num_samples=8)["demo_motion"]
        jumps[rho] = (out[:, 12:].diff(dim=1).abs().mean().item(), out[:, 12:].std(dim=0).mean().item())
    assert jumps[0.95][0] < 0.6 * jumps[0.0][0]  # consecutive frames jump less
    assert jumps[0.95][1] == pytest.approx(jumps[0.0][1], rel=0.3)  # samples spread as much across draws
    parser = argparse.ArgumentParser()
    type(model).modify_generation_options(parser)
    assert parser.parse_args(["--noise_smoothing", "0.9"]).noise_smoothing == 0.9
    with pytest.raises(SystemExit):
        parser.parse_args(["--noise_smoothing", "1.5"])
