"""Multi-speaker synthetic demo data: speakers.json, every split holds every speaker, distinct signatures,
and the single-dancer default unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionlab.datafolder import DataFolder
from motionlab.datasets.demo_data import MOTION, make_demo_data
from motionlab.utils.errors import MotionlabError


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp("spk") / "data", n_sequences=12, seconds=6.0, speakers=4)


def test_speakers_json_labels_every_sequence_and_every_split_holds_every_speaker(four):
    df = DataFolder(four)
    labels = df.speakers()
    assert sorted(labels) == sorted(df.sequences()) and len(labels) == 12
    assert labels["demo_00"] == "speaker_0" and labels["demo_05"] == "speaker_1" and labels["demo_11"] == "speaker_3"
    for name, ids in df.splits().items():
        assert sorted({labels[q] for q in ids}) == [f"speaker_{k}" for k in range(4)], name
    assert df.split("test") == ["demo_08", "demo_09", "demo_10", "demo_11"]
    assert df.meta(MOTION)["settings"]["speakers"] == 4


def _audio_regressors(audio: np.ndarray, cycles: int) -> np.ndarray:
    """What a window of the audio shows, as regressors: the swing at ``cycles`` per beat (phase from the
    beat channel, scaled by the take's loudness read off its bands at the beats), the onset envelope, 1."""
    beats = np.flatnonzero(audio[:, 0] > 0.5)
    period = int(np.median(np.diff(beats)))
    phase = ((np.arange(len(audio)) - beats[0]) % period) / period
    level = audio[beats, 2:].mean()
    arg = 2 * np.pi * cycles * phase
    return np.stack([level * np.sin(arg), level * np.cos(arg), audio[:, 1], np.ones(len(audio))], 1)


def test_each_speaker_has_its_own_signature_and_its_motion_follows_the_audio(four):
    """Joint usage: speaker k moves joint k most. Swing cycles per beat (1, 2, 1, 2): each speaker's
    motion is a linear function of what its audio shows at its own cycles (R² > 0.97, noise aside) and not at the other's."""
    df = DataFolder(four)
    labels = df.speakers()
    for k in range(4):
        takes = [q for q in df.split("train") if labels[q] == f"speaker_{k}"]
        a = np.concatenate([df.open_feature(q, MOTION) for q in takes])
        per_joint = a.reshape(len(a), 4, 3).var(0).sum(1)
        assert int(per_joint.argmax()) == k, (k, per_joint)
        r2 = {}
        for cycles in (1, 2):
            x = np.concatenate([_audio_regressors(np.asarray(df.open_feature(q, "demo_audio")), cycles) for q in takes])
            fit = np.linalg.lstsq(x, a, rcond=None)[0]
            r2[cycles] = 1 - ((a - x @ fit) ** 2).sum() / ((a - a.mean(0)) ** 2).sum()
        own, other = (1, 2) if k % 2 == 0 else (2, 1)
        assert r2[own] > 0.97 and r2[other] < 0.6, (k, r2)


def test_default_is_the_single_dancer_data(tmp_path):
    """speakers=0 keeps the original data (values pinned from before multi-speaker support) and writes no speakers.json."""
    out = make_demo_data(tmp_path / "d", n_sequences=12, seconds=4.0, speakers=4)
    assert (out / "speakers.json").exists()
    out = make_demo_data(tmp_path / "d", n_sequences=8, seconds=8.0)  # rewriting as single-dancer data drops the labels
    assert not (out / "speakers.json").exists()
    df = DataFolder(out)
    np.testing.assert_allclose(df.open_feature("demo_00", MOTION)[:2, :4], [[0.7094597, -0.653831, 0.8201418, -1.6836321], [0.3015991, -0.9698812, 0.6634451, -1.6620507]], atol=1e-5)
    np.testing.assert_allclose(df.open_feature("demo_07", "demo_audio")[5, :4], [-0.3076375, -0.9227251, -1.4072827, -0.7760923], atol=1e-5)
    assert df.splits() == {"train": [f"demo_{i:02d}" for i in range(6)], "val": ["demo_06"], "test": ["demo_07"]}
    assert "speakers" not in json.loads((out / f"{MOTION}.meta.json").read_text())["settings"]


def test_refuses_too_few_sequences_per_speaker(tmp_path):
    with pytest.raises(MotionlabError, match=r"--sequences 8 with --speakers 4: .*at least 3 sequences per speaker \(12\)"):
        make_demo_data(tmp_path / "d", n_sequences=8, speakers=4)
    with pytest.raises(MotionlabError, match="--speakers: expected 0"):
        make_demo_data(tmp_path / "d", speakers=-1)


def test_cli_writes_speakers(tmp_path):
    from motionlab.cli import main

    assert main(["make-demo-data", str(tmp_path / "d"), "--speakers", "3", "--sequences", "9", "--seconds", "4"]) == 0
    assert sorted(set(DataFolder(tmp_path / "d").speakers().values())) == ["speaker_0", "speaker_1", "speaker_2"]


# ------------------------------------------------------------------ --balance_speakers

from motionlab.datasets.samplers import SpeakerBalancedSampler  # noqa: E402


UNBALANCED = np.array([0] * 900 + [1] * 90 + [2] * 10)


def test_balanced_sampler_draws_speakers_uniformly_on_unbalanced_data():
    sampler = SpeakerBalancedSampler(UNBALANCED, seed=5)
    idx = np.array(list(sampler))
    assert len(sampler) == len(idx) == 1000  # an epoch is the dataset's length
    counts = np.bincount(UNBALANCED[idx], minlength=3)
    assert counts.max() - counts.min() <= 1  # blocks of one permutation of the speakers: 334/333/333
    assert all(sorted(UNBALANCED[idx[i : i + 3]]) == [0, 1, 2] for i in range(0, 999, 3))
    # windows uniformly within a speaker: the rare speaker's 10 windows are all drawn, roughly equally
    rare = np.bincount(idx[UNBALANCED[idx] == 2] - 990, minlength=10)
    assert rare.min() >= 15 and rare.max() <= 60


def test_balanced_sampler_is_deterministic_per_seed_and_epoch():
    a, b, c = SpeakerBalancedSampler(UNBALANCED, seed=1), SpeakerBalancedSampler(UNBALANCED, seed=1), SpeakerBalancedSampler(UNBALANCED, seed=2)
    assert list(a) == list(b) and list(a) != list(c)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first


def test_balanced_sampler_resumes_mid_epoch_in_a_stateful_loader_before_set_epoch():
    """--resume: Lightning builds the restored loader's iterator before it calls set_epoch, so the
    sampler must read the epoch at its first draw and skip exactly the draws already trained on."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    def loader(sampler):
        return StatefulDataLoader(list(range(len(UNBALANCED))), batch_size=10, sampler=sampler)

    whole = SpeakerBalancedSampler(UNBALANCED, seed=4)
    whole.set_epoch(3)
    expected = [b.tolist() for b in loader(whole)]
    first = loader(SpeakerBalancedSampler(UNBALANCED, seed=4))
    first.sampler.set_epoch(3)
    it = iter(first)
    done = [next(it).tolist() for _ in range(7)]
    state = first.state_dict()
    resumed = loader(SpeakerBalancedSampler(UNBALANCED, seed=4))
    resumed.load_state_dict(state)
    it = iter(resumed)  # created at epoch 0 ...
    resumed.sampler.set_epoch(3)  # ... the epoch set afterwards, as Lightning does
    assert done + [b.tolist() for b in it] == expected
    # a state saved after the epoch's last draw: the next pass is a whole new epoch
    finished = loader(SpeakerBalancedSampler(UNBALANCED, seed=4))
    finished.load_state_dict(loader_state_after_all(whole))
    finished.sampler.set_epoch(4)
    whole.set_epoch(4)
    assert [b.tolist() for b in finished] == [b.tolist() for b in loader(whole)]


def loader_state_after_all(sampler):
    from torchdata.stateful_dataloader import StatefulDataLoader

    full = StatefulDataLoader(list(range(len(UNBALANCED))), batch_size=10, sampler=sampler)
    list(full)
    return full.state_dict()


def test_balanced_sampler_splits_an_epoch_between_ddp_ranks():
    from torch.utils.data import DistributedSampler

    ranks = [SpeakerBalancedSampler(UNBALANCED[:999], seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    assert isinstance(ranks[0], DistributedSampler)  # so Lightning keeps it under DDP instead of wrapping it
    parts = [list(s) for s in ranks]
    assert len(parts[0]) == len(parts[1]) == len(ranks[0]) == 500  # 999 padded to 1000
    stream = ranks[0].stream(0)
    assert parts[0] == stream[0::2].tolist() and parts[1] == stream[1::2].tolist()
    for p in parts:
        counts = np.bincount(UNBALANCED[np.array(p)], minlength=3)
        assert counts.min() > 120  # each rank's part is itself near-balanced (1/3 of 500 = 167)


def test_balance_speakers_reaches_the_training_loader(four, tmp_path):
    """train.py builds its loader with the dataset's sampler: on data where speaker_0 owns most windows, the trained windows are balanced."""
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    data = tmp_path / "data"
    import shutil

    shutil.copytree(four, data)
    df = DataFolder(data)
    df.write_speakers({q: ("speaker_1" if q in ("demo_01", "demo_09") else "speaker_0") for q in df.sequences()})  # 1 of the 4 train sequences
    opt = parse_options(["--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path / "exp"), "--no-progress_bar",
                         "--max_epochs", "1", "--balance_speakers", "--log_sample_indices", "--batch_size", "32", "--limit_val_batches", "1"])
    from motionlab.datasets.multimodal_dataset import MultimodalDataset

    ds = MultimodalDataset(opt, "train")
    assert (ds.window_speakers() == 1).mean() == 0.25
    train(opt)
    rows = json.loads((tmp_path / "exp" / "demo" / "sample_indices_rank0.json").read_text())
    spk = ds.window_speakers()[[w for w, _, _ in rows]]
    assert len(rows) == (len(ds) // 32) * 32 and abs((spk == 1).mean() - 0.5) < 0.02
    with pytest.raises(MotionlabError, match="--balance_speakers: .*speakers.json is missing"):
        (data / "speakers.json").unlink()
        MultimodalDataset(opt, "train").train_sampler(0)
