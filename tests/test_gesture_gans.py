"""Speech2Gesture, StAGE and Mix-StAGE: style and mixture behaviour, generation through the stitch, bad input,
training on the demo data (one process and 2-process CPU DDP)."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import gesture_fixtures as gf
from conftest import run_cli
from motionlab.datasets.demo_data import make_demo_data
from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.models import registered_models
from motionlab.training.experiment import Experiment
from motionlab.training.options import parse_options
from motionlab.training.train import main as train_main
from motionlab.training.train import train
from motionlab.utils.errors import MotionlabError


@pytest.fixture(scope="module")
def speakers_demo(tmp_path_factory) -> Path:
    """Multi-speaker demo data: 4 speakers x 3 sequences of 6 s."""
    return make_demo_data(tmp_path_factory.mktemp("spk") / "data", n_sequences=12, seconds=6.0, speakers=4)


def test_registry_lists_the_three_models():
    models = registered_models()
    assert {"speech2gesture", "stage", "mixstage"} <= set(models)
    assert models["stage"].num_generators(gf.tiny_model("stage")) == 1


def test_mixture_weights_sum_to_one_and_forcing_a_generator_gives_its_output():
    m = gf.tiny_model("mixstage").eval()
    b = gf.batch()
    with torch.no_grad():
        w = m.mixture_weights(b["inputs"], b["speaker"])
        assert w.shape == (4, gf.L, 3)
        torch.testing.assert_close(w.sum(-1), torch.ones(4, gf.L))
        mixed = m.generate_window(b["inputs"], speaker=b["speaker"])[0]
        h = torch.cat([m.unet(m.audio_features(b["inputs"])), m.style_embedding(b["speaker"])[:, :, None].expand(-1, -1, gf.L)], 1)
        each = m.mixture.generators(h).transpose(2, 3)  # (B, K, L, D)
        torch.testing.assert_close(mixed, (each * w.transpose(1, 2)[..., None]).sum(1))
        for k in range(3):
            torch.testing.assert_close(m.generate_window(b["inputs"], speaker=b["speaker"], force_generator=k)[0], each[:, k])
        assert not torch.allclose(each[:, 0], each[:, 1])
    with pytest.raises(MotionlabError, match=r"force_generator=3: the model has 3 generator"):
        m.generate_window(b["inputs"], speaker=0, force_generator=3)


def test_style_changes_the_output_of_style_models_only():
    b = gf.batch()
    for name in ("stage", "mixstage"):
        m = gf.tiny_model(name).eval()
        with torch.no_grad():
            outs = [m.generate_window(b["inputs"], speaker=s)[0] for s in range(3)]
        assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2]), name
    s2g = gf.tiny_model("speech2gesture").eval()
    with torch.no_grad():
        torch.testing.assert_close(s2g.generate_window(b["inputs"], speaker=0)[0], s2g.generate_window(b["inputs"], speaker=2)[0])


def test_training_takes_the_style_from_the_pose_style_encoder():
    m = gf.tiny_model("stage", "--curriculum_steps", "0")
    b = gf.batch()
    m.train()
    torch.manual_seed(0)
    fake_a = m._forward(b["inputs"], m.pose_style_encoder(b["outputs"][0]).argmax(1))[0]
    style = m.pose_style_encoder(b["outputs"][0]).argmax(1)
    other = dict(b, speaker=(b["speaker"] + 1) % 3)
    with torch.no_grad():  # in training the given labels only enter the identity losses, not the generator's input
        la, ta = m.generator_loss(b)
        lb, tb = m.generator_loss(other)
    assert ta["l1"] == pytest.approx(tb["l1"].item(), abs=1e-6) and ta["id_in"] != pytest.approx(tb["id_in"].item())
    assert fake_a.shape == (4, gf.L, gf.M_DIM) and style.shape == (4,)


def test_train_style_speaker_feeds_the_given_labels_to_the_generator():
    m = gf.tiny_model("stage", "--curriculum_steps", "0", "--train_style", "speaker").train()
    b = gf.batch()
    other = dict(b, speaker=(b["speaker"] + 1) % 3)
    with torch.no_grad():
        _, ta = m.generator_loss(b)
        _, tb = m.generator_loss(other)
        expected = torch.nn.functional.l1_loss(m._forward(b["inputs"], torch.as_tensor(b["speaker"]).long())[0], b["outputs"][0])
    assert ta["l1"] != pytest.approx(tb["l1"].item(), abs=1e-6)
    assert ta["l1"] == pytest.approx(expected.item(), abs=1e-5)


def test_curriculum_probability_falls_to_zero():
    m = gf.tiny_model("mixstage", "--curriculum_steps", "200").train()
    used = []
    for i in range(300):
        m.g_steps = i
        used.append(m.use_curriculum())
    assert all(used[:1]) and not any(used[200:])
    assert sum(used[:100]) > sum(used[100:200]) > 0  # probability 1 - i/N
    m.eval()
    m.g_steps = 0
    assert not m.use_curriculum()


def test_style_codes_and_whole_sequence_generation_through_the_stitch():
    m = gf.tiny_model("mixstage").eval()
    assert m.style_codes(torch.randn(5, gf.L, gf.M_DIM)).shape == (5, 3)
    with pytest.raises(MotionlabError, match=r"style_codes expects motion windows \(B, 32, 12\)"):
        m.style_codes(torch.randn(5, 10, gf.M_DIM))
    for T in (100, 32, 20):
        out = m.generate({"demo_audio": torch.randn(T, gf.A_DIM)}, speaker=1)["demo_motion"]
        assert out.shape == (T, gf.M_DIM)
    forced = m.generate({"demo_audio": torch.randn(70, gf.A_DIM)}, speaker=2, force_generator=0, num_samples=2)["demo_motion"]
    assert forced.shape == (2, 70, gf.M_DIM)


def test_bad_input_is_refused_with_a_message():
    m = gf.tiny_model("mixstage").eval()
    x = [torch.randn(2, gf.L, gf.A_DIM)]
    with pytest.raises(MotionlabError, match=r"generates in a given style: pass a speaker/style \(--style <label>; known: spk_a, spk_b, spk_c\)"):
        m.generate({"demo_audio": torch.randn(50, gf.A_DIM)})
    with pytest.raises(MotionlabError, match=r"speaker/style id 3 is not one of its 3 styles \(0..2: spk_a, spk_b, spk_c\)"):
        m.generate_window(x, speaker=3)
    m.train()
    with pytest.raises(MotionlabError, match="batch has no 'pose_cluster': set --pose_clusters 3"):
        m.generator_loss(gf.batch(with_clusters=False))
    with pytest.raises(MotionlabError, match=r"pose_cluster labels in \[4, 4\] but the model has 3 generators"):
        m.generator_loss(dict(gf.batch(), pose_cluster=torch.full((4, gf.L), 4)))
    with pytest.raises(MotionlabError, match="set --pose_clusters K"):
        gf.tiny_model("mixstage", pose_clusters=0)
    gf.tiny_model("stage", pose_clusters=0)  # one generator: no clusters needed
    with pytest.raises(MotionlabError, match="has no speakers.json"):
        gf.tiny_model("stage", speakers=())
    with pytest.raises(MotionlabError, match="'demo_motion' cannot be both input and output"):
        gf.tiny_model("speech2gesture", "--input_modalities", "demo_audio,demo_motion", "--input_lengths", "32,32", "--input_time_offsets", "0,0")


def test_checkpoint_of_another_speaker_set_is_refused():
    a = gf.tiny_model("stage", speakers=("x", "y"))
    b = gf.tiny_model("stage")
    ckpt = {"state_dict": a.state_dict(), "hyper_parameters": dict(a.hparams)}
    with pytest.raises(MotionlabError, match=r"trained on speakers/styles \['x', 'y'\], this data has \['spk_a', 'spk_b', 'spk_c'\]"):
        b.on_load_checkpoint(ckpt)
    s2g_a, s2g_b = gf.tiny_model("speech2gesture", speakers=("x", "y")), gf.tiny_model("speech2gesture")
    s2g_b.on_load_checkpoint({"state_dict": s2g_a.state_dict(), "hyper_parameters": dict(s2g_a.hparams), "motionlab_adversarial": {"gan_iteration": 7}})
    assert s2g_b.gan_iteration == 7  # no style: the speaker set does not matter


def test_speech2gesture_learns_one_speakers_demo_motion_from_the_audio(tmp_path):
    """One speaker of the multi-speaker demo: its motion is a function of what the audio window shows
    (beat phase, onset, loudness), so on the held-out test take the L1 falls far below the untrained
    model's and the mean pose's (about 0.3x both; asserted 0.6x, with two threads fixed)."""
    data = make_demo_data(tmp_path / "data", n_sequences=8, seconds=8.0, speakers=1)
    opt = parse_options(["--hparams_file", "demo/speech2gesture", "--data_dir", str(data), "--experiments_dir", str(tmp_path), "--no-progress_bar", "--max_epochs", "6", "--window_hop", "2"])
    windows = MultimodalDataset(opt, "test")
    xs = torch.from_numpy(np.stack([windows[i]["inputs"][0] for i in range(len(windows))]))
    ys = torch.from_numpy(np.stack([windows[i]["outputs"][0] for i in range(len(windows))]))
    from motionlab.models import find_model_using_name
    import pytorch_lightning as pl

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pl.seed_everything(opt.seed)
        untrained = find_model_using_name("speech2gesture").from_dataset(opt, MultimodalDataset(opt, "train")).eval()
        with torch.no_grad():
            before = (untrained.generate_window([xs])[0] - ys).abs().mean().item()
        result = train(opt)
    finally:
        torch.set_num_threads(threads)
    model, _, _ = Experiment(result["experiment_dir"]).load_model("last")
    with torch.no_grad():
        after = (model.generate_window([xs])[0] - ys).abs().mean().item()
    mean_pose = (ys - ys.mean((0, 1))).abs().mean().item()
    assert after < 0.6 * before and after < 0.6 * mean_pose, (before, after, mean_pose)


def test_curriculum_and_generated_windows_leave_the_running_statistics_alone():
    """A curriculum step's content (ground-truth pose) and the style encoder's look at generated windows
    never reach eval mode, so they must not move BatchNorm's running statistics; audio steps do."""
    m = gf.tiny_model("stage", "--curriculum_steps", "10").train()
    b = gf.batch()
    stats = lambda net: [t.clone() for n, t in net.named_buffers() if "running" in n]  # noqa: E731
    unet, pse = stats(m.unet), stats(m.pose_style_encoder)
    expected_pse = copy.deepcopy(m.pose_style_encoder)
    expected_pse(b["outputs"][0])  # the real window's pass is the only one that may count
    m.g_steps = 0  # curriculum probability 1
    assert m.use_curriculum()
    m.generator_loss(b)
    assert all(torch.equal(a, c) for a, c in zip(unet, stats(m.unet)))
    assert all(torch.equal(a, c) for a, c in zip(stats(expected_pse), stats(m.pose_style_encoder))) and not torch.equal(pse[0], stats(m.pose_style_encoder)[0])
    m.g_steps = 10  # curriculum over: audio content, the statistics follow it
    m.generator_loss(b)
    assert not torch.equal(unet[0], stats(m.unet)[0])


def test_mixstage_trains_on_multispeaker_demo_and_generates_every_style(tmp_path, speakers_demo, capsys):
    args = ["--hparams_file", "demo/mixstage", "--data_dir", str(speakers_demo), "--experiments_dir", str(tmp_path), "--no-progress_bar",
            "--max_epochs", "1", "--limit_train_batches", "4", "--limit_val_batches", "1", "--pose_clusters", "3", "--balance_speakers"]
    assert train_main(args) == 0, capsys.readouterr().err
    model, opt, _ = Experiment("demo_mixstage", tmp_path).load_model()
    assert model.k == 3 and list(model.data_spec.speaker_names) == [f"speaker_{i}" for i in range(4)]
    audio = np.load(speakers_demo / "demo_00.demo_audio.npy")
    outs = [model.generate({"demo_audio": torch.from_numpy(audio)}, speaker=s)["demo_motion"] for s in range(4)]
    assert all(o.shape == (audio.shape[0], 12) for o in outs) and not torch.allclose(outs[0], outs[3])
    # resuming on a data folder with another speaker set is refused before any weight is loaded
    (speakers_demo / "speakers.json").write_text((speakers_demo / "speakers.json").read_text().replace("speaker_3", "speaker_9"))
    try:
        assert train_main(args + ["--max_epochs", "2", "--resume"]) == 2
        assert "trained on speakers/styles ['speaker_0', 'speaker_1', 'speaker_2', 'speaker_3'], this data has ['speaker_0', 'speaker_1', 'speaker_2', 'speaker_9']" in capsys.readouterr().err
    finally:
        (speakers_demo / "speakers.json").write_text((speakers_demo / "speakers.json").read_text().replace("speaker_9", "speaker_3"))


def test_mixstage_two_process_ddp_trains_and_ranks_agree(tmp_path, speakers_demo):
    opt = parse_options(["--hparams_file", "demo/mixstage", "--data_dir", str(speakers_demo), "--pose_clusters", "3"])
    MultimodalDataset(opt, "train")  # fit the pose clusters once, before two processes would race to
    proc = run_cli(
        "-m", "motionlab.training.train", "--hparams_file", "demo/mixstage", "--data_dir", str(speakers_demo), "--experiments_dir", str(tmp_path),
        "--model", "rank_dump_mix_stage", "--plugins", "gesture_fixtures", "--pose_clusters", "3", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
        "--max_epochs", "1", "--limit_train_batches", "4", "--limit_val_batches", "1", "--batch_size", "8", "--no-progress_bar", "--experiment_name", "ddp",
        env={"PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [np.load(tmp_path / "ddp" / f"rank{r}_params.npz") for r in (0, 1)]
    assert set(ranks[0].files) == set(ranks[1].files) and len(ranks[0].files) > 50
    for k in ranks[0].files:
        np.testing.assert_allclose(ranks[0][k], ranks[1][k], rtol=0, atol=1e-6, err_msg=k)
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    counters = ckpt["motionlab_adversarial"]
    assert counters["gan_iteration"] == 4 and counters["g_steps"] + counters["d_steps"] == 4 and counters["g_steps"] > 0
    for k, v in ckpt["state_dict"].items():
        if k in ranks[0].files:
            np.testing.assert_allclose(v.numpy(), ranks[0][k], atol=1e-6, err_msg=k)


def test_audio_time_halvings_option_chooses_the_encoders_time_resolution(capsys):
    from motionlab.models.modules.gesture import audio_time_halvings

    auto = gf.tiny_model("speech2gesture")
    paper = gf.tiny_model("speech2gesture", "--audio_time_halvings", "3")
    assert auto.audio_encoder.time_halvings == audio_time_halvings(gf.L, gf.L) == 0
    assert paper.audio_encoder.time_halvings == 3
    x = gf.batch()["inputs"]
    assert paper.generate_window(x)[0].shape == auto.generate_window(x)[0].shape == (4, gf.L, gf.M_DIM)
    with pytest.raises(MotionlabError, match="invalid command line"):
        gf.tiny_model("speech2gesture", "--audio_time_halvings", "4")
    assert "argument --audio_time_halvings: expected an integer in [-1, 3], got '4'" in capsys.readouterr().err
