"""The model contract: two-optimiser models through train.py, windowed generation through the shared stitch, the import floors."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, run_cli
from motionlab.dataspec import DataSpec
from motionlab.inference import generate as gen
from motionlab.models.modules.stitch import stitch, window_starts
from motionlab.training.experiment import Experiment
from motionlab.training.options import parse_options
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError


def toy_options(data, exp, model, *extra):
    return parse_options([
        "--hparams_file", "demo/_common", "--model", model, "--plugins", "toy_models", "--data_dir", str(data),
        "--experiments_dir", str(exp), "--experiment_name", model, "--no-progress_bar", "--warmup_steps", "0", "--lr_policy", "none", *extra,
    ])


def test_two_optimiser_model_trains_through_train_py_with_clipping(tmp_path, small_demo):
    """Manual optimisation: --gradient_clip_val is applied by the model to each network (Lightning refuses it otherwise)."""
    from toy_models import ToyGanModel

    before = {}

    class Probe(ToyGanModel):
        def on_train_batch_start(self, batch, batch_idx):
            before[batch_idx] = {k: v.detach().clone() for k, v in self.named_parameters()}

    opt = toy_options(small_demo, tmp_path, "toy_gan", "--optimizer", "sgd", "--momentum", "0", "--learning_rate", "10", "--gradient_clip_val", "0.001",
                      "--max_epochs", "1", "--limit_train_batches", "3", "--limit_val_batches", "1")
    import toy_models

    original = toy_models.ToyGanModel
    toy_models.ToyGanModel = Probe  # the registry finds the probe under the same name
    Probe.__name__ = "ToyGanModel"
    try:
        result = train(opt)
    finally:
        toy_models.ToyGanModel = original
    ckpt = torch.load(Path(result["experiment_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(ckpt["optimizer_states"]) == 2 and result["global_step"] == 6  # Lightning counts both optimisers' steps
    after = ckpt["state_dict"]
    last = before[2]
    for net in ("generator", "discriminator"):
        delta = torch.cat([(after[k] - last[k]).flatten() for k in after if k.startswith(net)])
        assert 0 < delta.norm() <= 10 * 0.001 + 1e-6, (net, delta.norm())  # SGD step = lr * clipped gradient
    for key in ("train_loss", "train_l1", "train_d_loss", "val_loss", "val_l1"):
        assert key in result["metrics"]


def test_manual_optimisation_refuses_accumulation(tmp_path, small_demo):
    opt = toy_options(small_demo, tmp_path, "toy_gan", "--accumulate_grad_batches", "2", "--max_epochs", "1", "--limit_train_batches", "2")
    with pytest.raises(MotionlabError, match="--accumulate_grad_batches: model 'toy_gan' steps its optimisers itself"):
        train(opt)


class _Echo(torch.nn.Module):
    """Just enough of a model for ``stitch``: echoes its first input window plus a per-window constant."""

    def __init__(self, L, offset=0, shifts=None):
        super().__init__()
        from motionlab.models.modules.autoregressive import WindowSpec

        self.spec = WindowSpec(("a",), ("m",), (L,), (L,), (0,), (offset,))
        self.output_dims = [2]
        self.shifts = list(shifts or [])
        self.calls = []
        self.p = torch.nn.Parameter(torch.zeros(1))

    def generate_window(self, windows, **cond):
        self.calls.append(cond)
        shift = self.shifts[len(self.calls) - 1] if self.shifts else 0.0
        return [windows[0] + shift]


@pytest.mark.parametrize("T, L, overlap", [(50, 8, 4), (50, 8, 0), (37, 10, 3), (5, 8, 2), (8, 8, 7)])
def test_stitch_reconstructs_an_echo_exactly(T, L, overlap):
    x = torch.randn(T, 2)
    out = stitch(_Echo(L), {"a": x}, window_overlap=overlap)["m"]
    assert out.shape == (T, 2)
    torch.testing.assert_close(out, x)


def test_stitch_crossfades_overlaps_with_triangular_weights():
    T, L = 12, 8  # windows at 0 and 4 (the last aligned with the end): frames 4..7 are shared
    assert window_starts(T, 0, L, 4) == [0, 4]
    model = _Echo(L, shifts=[0.0, 1.0])
    out = stitch(model, {"a": torch.zeros(T, 2)}, window_overlap=4, speaker=3)["m"][:, 0]
    w = torch.tensor([1.0, 2, 3, 4, 4, 3, 2, 1])  # triangular weights of a window of 8
    expected = torch.cat([torch.zeros(4), w[:4] / (w[4:] + w[:4]), torch.ones(4)])  # frame 4+i: second window's w[i] over both
    torch.testing.assert_close(out, expected)
    assert model.calls == [{"speaker": 3}, {"speaker": 3}]  # conditions reach every window


def test_stitch_errors():
    with pytest.raises(MotionlabError, match=r"--window_overlap must be in \[0, 7\]"):
        stitch(_Echo(8), {"a": torch.zeros(20, 2)}, window_overlap=8)
    with pytest.raises(MotionlabError, match="input modality 'a' missing"):
        stitch(_Echo(8), {"b": torch.zeros(20, 2)})


def test_feed_forward_model_trains_and_generates_through_the_stitch(tmp_path, small_demo):
    opt = toy_options(small_demo, tmp_path, "toy_windowed", "--input_modalities", "demo_audio", "--input_lengths", "16", "--input_time_offsets", "0",
                      "--output_lengths", "16", "--output_time_offsets", "0", "--max_epochs", "1", "--limit_train_batches", "4", "--learning_rate", "0.01")
    train(opt)
    args = gen.parse_args(["toy_windowed", "demo_07", "--experiments_dir", str(tmp_path), "--output_folder", str(tmp_path / "g"), "--window_overlap", "6", "--no-progress"])
    assert args.window_overlap == 6 and not hasattr(args, "temperature")  # the model's own generation options
    (path,) = gen.run(args)
    out = np.load(path)
    T = np.load(small_demo / "demo_07.demo_audio.npy").shape[0]
    assert out.shape == (T, 12) and np.isfinite(out).all()
    # the stitched sequence equals the model applied frame by frame (it is per-frame linear, so overlaps agree)
    model, opt2, _ = Experiment(tmp_path / "toy_windowed").load_model()
    audio = torch.from_numpy(np.load(small_demo / "demo_07.demo_audio.npy"))
    direct = model.net(audio).detach().numpy()
    from motionlab.feature_extraction.scalers import StandardScaler

    scaler = StandardScaler.load(small_demo / "demo_motion.scaler.npz")
    np.testing.assert_allclose(out, scaler.inverse_transform(direct), rtol=1e-4, atol=1e-4)


def test_experiment_rebuilds_model_from_its_data_spec(tmp_path, small_demo):
    train(toy_options(small_demo, tmp_path, "toy_windowed", "--input_modalities", "demo_audio", "--input_lengths", "8", "--output_lengths", "8",
                      "--input_time_offsets", "0", "--output_time_offsets", "0", "--max_epochs", "1", "--limit_train_batches", "1"))
    model, opt, ckpt = Experiment("toy_windowed", tmp_path).load_model()
    spec = model.data_spec
    assert isinstance(spec, DataSpec) and spec.input_dims == (16,) and spec.output_dims == (12,) and spec.fps == 20.0
    assert spec.num_windows > 0 and spec.input_modalities == ("demo_audio",)


# ---------------------------------------------------------------- generation defects, through the real command


@pytest.fixture(scope="module")
def demo_experiment(tmp_path_factory, small_demo):
    exp = tmp_path_factory.mktemp("exp")
    train(parse_options(["--hparams_file", "demo", "--data_dir", str(small_demo), "--experiments_dir", str(exp), "--no-progress_bar", "--max_epochs", "1", "--limit_train_batches", "2"]))
    return exp


@pytest.mark.parametrize("extra, message", [
    (["--num_samples", "-3"], "argument --num_samples: expected an integer >= 1, got '-3'"),
    (["--num_samples", "0"], "argument --num_samples: expected an integer >= 1, got '0'"),
    (["--max_length", "-5"], "argument --max_length: expected an integer >= 0, got '-5'"),
    (["--temperature", "-1"], "argument --temperature: expected a number >= 0.0, got '-1'"),
    (["--generate_bvh"], "'demo_motion' is not a BVH motion feature"),
    (["--seed_from", "nope"], "nope"),
])
def test_generate_refuses_bad_values_without_traceback(demo_experiment, tmp_path, extra, message):
    out = tmp_path / "out"
    proc = run_cli("-m", "motionlab.cli", "generate", "demo", "demo_07", "--experiments_dir", str(demo_experiment), "--output_folder", str(out), *extra)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.rglob("*")), "nothing may be written when the request is refused"


def test_generate_seed_file_of_the_wrong_width(demo_experiment, tmp_path):
    bad = tmp_path / "seed.npy"
    np.save(bad, np.zeros((20, 5), np.float32))
    proc = run_cli("-m", "motionlab.cli", "generate", "demo", "demo_07", "--experiments_dir", str(demo_experiment), "--output_folder", str(tmp_path / "o"), "--seed_file", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "seed.npy: expected an array of at least 10 frames x 12 features ('demo_motion'), found shape (20, 5)" in proc.stderr


def test_generate_says_which_seed_and_offers_the_mean_pose(demo_experiment, tmp_path):
    args = ["-m", "motionlab.cli", "generate", "demo", "demo_07", "--experiments_dir", str(demo_experiment), "--output_folder", str(tmp_path / "o"), "--max_length", "40"]
    proc = run_cli(*args)
    assert proc.returncode == 0 and "seed: the first 10 frames of demo_07" in proc.stderr
    assert "generating:" in proc.stderr  # a progress bar is shown (--no-progress hides it)
    assert "generating" not in run_cli(*args, "--no-progress").stderr
    proc = run_cli(*args, "--seed_from", "mean")
    assert proc.returncode == 0 and "seed: the mean pose of the train split (10 frames)" in proc.stderr
    out = np.load(tmp_path / "o" / "demo" / "demo_07.demo_motion.generated.npy")
    from motionlab.feature_extraction.scalers import StandardScaler

    small = Path(Experiment("demo", demo_experiment).options().data_dir)
    scaler = StandardScaler.load(small / "demo_motion.scaler.npz")
    np.testing.assert_allclose(out[:10], np.repeat(scaler.mean[None], 10, 0), atol=1e-5)  # the seed frames are the train mean


def test_generate_input_shorter_than_the_context(demo_experiment, tmp_path):
    proc = run_cli("-m", "motionlab.cli", "generate", "demo", "demo_07", "--experiments_dir", str(demo_experiment), "--output_folder", str(tmp_path / "o"), "--max_length", "8")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the inputs last 8 frames but the model needs 10 frames of context" in proc.stderr


# ---------------------------------------------------------------- floors


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):  # also imports inside functions
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("floor, forbidden", [
    ("models", ("motionlab.training", "motionlab.inference")),
    ("datasets", ("motionlab.training", "motionlab.inference", "motionlab.models")),
    ("feature_extraction", ("motionlab.training", "motionlab.inference", "motionlab.models", "motionlab.datasets")),
])
def test_lower_floors_never_import_the_upper_ones(floor, forbidden):
    bad = []
    for path in sorted((REPO / "motionlab" / floor).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(forbidden):
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, bad


def test_ground_floor_modules_import_only_the_ground_floor():
    ground = ["options.py", "dataspec.py", "registry.py", "datafolder.py"]
    upper = ("motionlab.training", "motionlab.inference", "motionlab.models", "motionlab.datasets", "motionlab.analysis")
    for name in ground:
        path = REPO / "motionlab" / name
        if path.exists():
            assert not [n for n in _imports(path) if n.startswith(upper)], name


def test_data_spec_round_trip_and_lookups():
    spec = DataSpec(["audio", "motion"], ["motion"], [16, 12], [12], fps=20.0, speaker_names=["ellen", "oliver"], num_windows=7, sequence_ids=["a"])
    back = DataSpec.from_dict(spec.to_dict())
    assert back == spec and back.sequence_ids == () and "sequence_ids" not in spec.to_dict()  # checkpoints carry no data ids
    assert spec.dim("motion") == 12 and spec.dim("audio") == 16 and spec.num_speakers == 2 and spec.speaker_index("oliver") == 1
    with pytest.raises(MotionlabError, match="unknown speaker/style 'anna' \\(known: ellen, oliver\\)"):
        spec.speaker_index("anna")
    with pytest.raises(MotionlabError, match="no modality 'text'"):
        spec.dim("text")
    with pytest.raises(MotionlabError, match="2 input modalities with 1 dims"):
        DataSpec(["audio", "motion"], ["motion"], [16], [12])


def test_test_step_logs_test_terms(tmp_path, small_demo):
    import pytorch_lightning as pl

    from motionlab.datasets.multimodal_dataset import MultimodalDataset

    opt = parse_options(["--hparams_file", "demo", "--data_dir", str(small_demo), "--experiments_dir", str(tmp_path), "--no-progress_bar", "--max_epochs", "1", "--limit_train_batches", "2"])
    train(opt)
    model, opt2, _ = Experiment("demo", tmp_path).load_model()
    test_set = MultimodalDataset(opt2, "test")
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (result,) = trainer.test(model, torch.utils.data.DataLoader(test_set, batch_size=64), verbose=False)
    assert set(result) == {"test_loss", "test_mse_demo_motion"} and result["test_loss"] == pytest.approx(result["test_mse_demo_motion"])


def test_input_noise_perturbs_only_fed_back_inputs_in_training():
    from motionlab.models.transformer_model import TransformerModel

    spec = DataSpec(["demo_audio", "demo_motion"], ["demo_motion"], [16, 12], [12], fps=20.0)
    opt = parse_options(["--hparams_file", "demo", "--input_noise", "0.5"])
    model = TransformerModel(opt, spec)
    batch = {"inputs": [torch.zeros(3, 20, 16), torch.zeros(3, 10, 12)], "outputs": [torch.zeros(3, 1, 12)]}
    model.train()
    noisy = model.noisy_inputs(batch)
    assert torch.equal(noisy["inputs"][0], batch["inputs"][0]) and torch.equal(noisy["outputs"][0], batch["outputs"][0])
    assert noisy["inputs"][1].std().item() == pytest.approx(0.5, rel=0.15)  # the fed-back motion context, and only it
    model.eval()
    assert model.noisy_inputs(batch) is batch  # never at validation or generation


def test_input_noise_needs_a_fed_back_input():
    from motionlab.models.transformer_model import TransformerModel

    spec = DataSpec(["demo_audio"], ["demo_motion"], [16], [12], fps=20.0)
    opt = parse_options(["--hparams_file", "demo", "--input_noise", "0.1", "--input_modalities", "demo_audio", "--input_lengths", "20", "--input_time_offsets", "0"])
    with pytest.raises(MotionlabError, match="--input_noise 0.1: no input modality is also an output"):
        TransformerModel(opt, spec)
