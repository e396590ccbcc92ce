"""prepare / extract: from paired takes to a data folder, and back out to BVH and video."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from motionlab.feature_extraction.bvh import load_bvh
from motionlab.feature_extraction.prepare import PrepareSettings, prepare
from motionlab.utils.errors import MotionlabError

HEADER = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftLeg
  {
    OFFSET 1 -1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -4 0
    }
  }
  JOINT RightLeg
  {
    OFFSET -1 -1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -4 0
    }
  }
  JOINT Spine
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 4 0
    }
  }
}
"""


def write_take(folder: Path, name: str, seconds: float, fps: int = 30, audio_seconds: float | None = None, sr: int = 16000, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    rows = np.zeros((n, 15))
    rows[:, 0] = 0.5 * t  # walking forward in x
    rows[:, 1] = 5 + 0.1 * np.sin(2 * np.pi * t)
    rows[:, 5] = 20 * t  # turning
    for k in range(6, 15):
        rows[:, k] = 30 * np.sin(2 * np.pi * (0.5 + rng.uniform()) * t + rng.uniform(0, 6))
    text = HEADER + f"MOTION\nFrames: {n}\nFrame Time: {1 / fps:.8f}\n" + "\n".join(" ".join(f"{v:.5f}" for v in r) for r in rows) + "\n"
    (folder / f"{name}.bvh").write_text(text)
    a = audio_seconds if audio_seconds is not None else seconds
    y = 0.1 * rng.standard_normal(int(a * sr)).astype(np.float32)
    y[:: sr // 2] = 1.0  # clicks every half second
    sf.write(folder / f"{name}.wav", y, sr)


@pytest.fixture
def takes(tmp_path):
    for i in range(4):
        write_take(tmp_path, f"take{i}", 6 + i, seed=i)
    return tmp_path


def settings(**kw):
    return PrepareSettings(**{"fps": 20, "audio_features": ["mel", "onset", "beats"], "n_mels": 16, **kw})


def test_prepare_writes_a_trainable_folder(takes):
    summary = prepare(takes, settings(), progress=False)
    assert summary.takes == 4 and not summary.skipped
    assert summary.features == {"bvh_expmap_cr_20fps": summary.features["bvh_expmap_cr_20fps"], "audio_mel16_onset_beats_20fps": 18}
    splits = {s: (takes / f"base_filenames_{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert sorted(sum(splits.values(), [])) == [f"take{i}" for i in range(4)] and len(splits["test"]) == 1 and len(splits["val"]) == 1
    for i in range(4):
        a = np.load(takes / f"take{i}.audio_mel16_onset_beats_20fps.npy")
        m = np.load(takes / f"take{i}.bvh_expmap_cr_20fps.npy")
        assert a.shape[0] == m.shape[0] == (6 + i) * 20 and a.dtype == np.float32
    meta = json.loads((takes / "bvh_expmap_cr_20fps.meta.json").read_text())
    assert meta["fps"] == 20 and meta["dims"] == len(meta["columns"]) and meta["kind"] == "motion"
    # scalers are fit on the train split only: train features are standardised
    train = np.concatenate([np.load(takes / f"{s}.bvh_expmap_cr_20fps.npy") for s in splits["train"]])
    assert np.allclose(train.mean(0), 0, atol=1e-4)
    assert not list(takes.glob(".*tmp*")), "temporary files left behind"


def test_prepare_is_idempotent_and_replace_existing(takes):
    prepare(takes, settings(), progress=False)
    mtime = (takes / "take0.bvh_expmap_cr_20fps.npy").stat().st_mtime_ns
    assert prepare(takes, settings(), progress=False).up_to_date
    assert (takes / "take0.bvh_expmap_cr_20fps.npy").stat().st_mtime_ns == mtime
    assert not prepare(takes, settings(), progress=False, replace_existing=True).up_to_date
    assert (takes / "take0.bvh_expmap_cr_20fps.npy").stat().st_mtime_ns != mtime


def test_mirror_adds_train_copies_only(takes):
    prepare(takes, settings(mirror=True), progress=False)
    train = (takes / "base_filenames_train.txt").read_text().split()
    val_test = (takes / "base_filenames_val.txt").read_text().split() + (takes / "base_filenames_test.txt").read_text().split()
    assert len(train) == 4 and all(f"{t}-mirror" in train for t in train if not t.endswith("-mirror"))
    assert not any(t.endswith("-mirror") for t in val_test)


def test_time_split_for_a_single_take(tmp_path):
    write_take(tmp_path, "solo", 10)
    prepare(tmp_path, settings(val_fraction=0.2, test_fraction=0.1), progress=False)
    lens = {s: [len(np.load(tmp_path / f"{q}.bvh_expmap_cr_20fps.npy")) for q in (tmp_path / f"base_filenames_{s}.txt").read_text().split()] for s in ("train", "val", "test")}
    assert lens == {"train": [140], "val": [40], "test": [20]}
    info = json.loads((tmp_path / "prepare.json").read_text())["sequences"]
    assert info["solo-val"]["audio_start"] == pytest.approx(7.0)


def test_extract_audio_keeps_time_splits_and_mirrors(tmp_path):
    """One step of prepare reuses the folder's splits, cutting each sequence like prepare did (a time
    split's '-val'/'-test' pieces, mirrored copies) instead of rewriting the splits with whole takes."""
    from motionlab.datafolder import DataFolder

    write_take(tmp_path, "solo", 10)
    prepare(tmp_path, settings(val_fraction=0.2, test_fraction=0.1, mirror=True), progress=False)
    df = DataFolder(tmp_path)
    before = df.splits()
    assert before == {"train": ["solo", "solo-mirror"], "val": ["solo-val"], "test": ["solo-test"]}
    prepare(tmp_path, settings(n_mels=8), steps=("audio",), progress=False)
    assert DataFolder(tmp_path).splits() == before
    whole = {q: np.load(tmp_path / f"{q}.audio_mel8_onset_beats_20fps.npy") for q in sum(before.values(), [])}
    assert {q: len(a) for q, a in whole.items()} == {"solo": 140, "solo-mirror": 140, "solo-val": 40, "solo-test": 20}
    scaler = DataFolder(tmp_path).scaler("audio_mel8_onset_beats_20fps")
    from motionlab.feature_extraction.audio import extract_audio_file

    pieces = np.concatenate([scaler.inverse_transform(whole[q]) for q in ("solo", "solo-val", "solo-test")])
    take, _ = extract_audio_file(tmp_path / "solo.wav", settings(n_mels=8).audio_settings())
    np.testing.assert_allclose(pieces, take[:200], atol=1e-3)  # each piece is its stretch of the take
    np.testing.assert_array_equal(whole["solo"], whole["solo-mirror"])  # audio is not mirrored


def test_split_mode_takes_needs_three_takes(tmp_path):
    write_take(tmp_path, "a", 3)
    write_take(tmp_path, "b", 3, seed=1)
    with pytest.raises(MotionlabError, match=r"2 takes cannot make a train split plus 1 val and 1 test takes .* at least 3 are needed"):
        prepare(tmp_path, settings(split_mode="takes"), progress=False)
    assert not (tmp_path / "base_filenames_train.txt").exists()


def test_prepared_scalers_record_their_arrays(takes):
    from motionlab.datafolder import DataFolder

    prepare(takes, settings(), progress=False)
    df = DataFolder(takes)
    name = "bvh_expmap_cr_20fps"
    with np.load(df.scaler_path(name), allow_pickle=False) as z:
        assert sorted(z["fit_sequences"]) == df.split("train") and sorted(z["sequences"]) == [f"take{i}" for i in range(4)]
    assert df.scaler_state(name) == "current" and df.pipeline(name) is df.pipeline(name)  # loaded once
    assert df.meta(name)["settings"]["scaled"] is True


def test_bad_takes_are_reported_and_good_ones_kept(takes):
    (takes / "take1.bvh").write_text(HEADER + "MOTION\nFrames: 10\nFrame Time: 0.0333\n1 2 3\n")  # truncated
    write_take(takes, "take9", 5, audio_seconds=7.5)  # audio 2.5 s longer: warn and trim
    (takes / "lonely.wav").write_bytes((takes / "take0.wav").read_bytes())  # audio without motion
    summary = prepare(takes, settings(), progress=False)
    assert set(summary.skipped) == {"take1", "lonely"}
    assert "take1.bvh" in summary.skipped["take1"] and "no motion file" in summary.skipped["lonely"]
    assert any("take9" in w and "trimmed" in w for w in summary.warnings)
    assert np.load(takes / "take9.audio_mel16_onset_beats_20fps.npy").shape[0] == 100
    assert not (takes / "take1.bvh_expmap_cr_20fps.npy").exists()
    assert "take9" in (takes / "prepare.json").read_text()


def test_strict_refuses_duration_mismatch(tmp_path):
    write_take(tmp_path, "a", 5, audio_seconds=7)
    write_take(tmp_path, "b", 5)
    summary = prepare(tmp_path, settings(strict=True), progress=False)
    assert "--strict" in summary.skipped["a"] and "b" not in summary.skipped


def test_undecodable_audio_is_reported(takes):
    (takes / "take2.wav").write_bytes(b"RIFF....not audio")
    summary = prepare(takes, settings(), progress=False)
    assert "take2.wav" in summary.skipped["take2"]


def test_no_takes_is_a_clear_error(tmp_path):
    with pytest.raises(MotionlabError, match="no usable takes"):
        prepare(tmp_path, settings(), progress=False)
    with pytest.raises(MotionlabError, match="folder not found"):
        prepare(tmp_path / "missing", settings(), progress=False)


def test_parallel_jobs_give_the_same_features(takes, tmp_path_factory):
    other = tmp_path_factory.mktemp("copy")
    for p in takes.iterdir():
        shutil.copy(p, other / p.name)
    prepare(takes, settings(), progress=False)
    prepare(other, settings(), jobs=2, progress=False)
    for i in range(4):
        np.testing.assert_array_equal(np.load(takes / f"take{i}.bvh_expmap_cr_20fps.npy"), np.load(other / f"take{i}.bvh_expmap_cr_20fps.npy"))


def test_keypoint_takes(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        np.save(tmp_path / f"k{i}.npy", rng.standard_normal((50, 5, 3)).astype(np.float32))
        sf.write(tmp_path / f"k{i}.wav", np.zeros(int(2 * 16000), np.float32) + 0.01, 16000)
    with pytest.raises(MotionlabError, match="--keypoints_fps"):
        prepare(tmp_path, settings(), progress=False)
    summary = prepare(tmp_path, settings(keypoints_fps=25), progress=False, replace_existing=True)
    # root step (x, z), root height, 4 root-relative joints x 3 (no heading pair: heading held fixed)
    assert summary.features["keypoints3d_cr_20fps"] == 15 and np.load(tmp_path / "k0.keypoints3d_cr_20fps.npy").shape == (40, 15)


def _turning_take(T=80, seed=0):
    """(T, 4, 3) world keypoints, y up: root 0 walking a curve and turning; left hip 1, right hip 2, head 3."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    yaw = 0.5 + 0.08 * t
    rest = np.array([[0, 0, 0], [10, -5, 0], [-10, -5, 0], [0, 60, 5]], dtype=float)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.stack([np.stack([c, 0 * c, s], -1), np.stack([0 * c, 1 + 0 * c, 0 * c], -1), np.stack([-s, 0 * c, c], -1)], -2)
    root = np.stack([200 + np.cumsum(2 * s), 90 + 3 * np.sin(t / 4), -40 + np.cumsum(2 * c)], 1)
    return root[:, None] + np.einsum("tij,tkj->tki", rot, rest + rng.normal(scale=0.5, size=(T, 4, 3)))


def _decode_prepared(folder, feature, seq):
    from motionlab.datafolder import DataFolder
    from motionlab.inference.outputs import positions_and_bones

    df = DataFolder(folder)
    feats = df.scaler(feature).inverse_transform(np.array(df.open_feature(seq, feature)))
    return positions_and_bones(folder, feature, feats, seq)[0]


def test_keypoint_take_with_heading_joints_round_trips_to_world(tmp_path, capsys):
    """A 3-D take prepared with --keypoints_heading_joints: every piece of its time split decodes (inverse
    scaled, from its recorded start state) to the source world positions."""
    from motionlab.cli import main
    from motionlab.datafolder import DataFolder

    kp = _turning_take()
    np.save(tmp_path / "walk.npy", kp.astype(np.float32))
    sf.write(tmp_path / "walk.wav", 0.1 * np.sin(np.arange(4 * 16000) / 7).astype(np.float32), 16000)
    args = ["prepare", str(tmp_path), "--fps", "20", "--keypoints_fps", "20", "--n_mels", "16", "--no_progress"]
    assert main(args + ["--keypoints_heading_joints", "1,2"]) == 0
    feature = "keypoints3d_cr_20fps"
    df = DataFolder(tmp_path)
    meta = df.meta(feature)
    assert meta["columns"][:4] == ["root_dx", "root_dz", "root_dyaw", "root_y"] and meta["settings"]["encoding"]["heading_joints"] == [1, 2]
    seqs = df.sequences()
    assert len(seqs) == 3 and sorted(meta["settings"]["start_states"]) == sorted(seqs)  # one take split in time
    for q in seqs:
        info = df.sequence_info(q)
        src = kp[info["start_frame"] : info["start_frame"] + info["frames"]]
        np.testing.assert_allclose(_decode_prepared(tmp_path, feature, q), src, atol=1e-3)
    capsys.readouterr()
    assert main(args + ["--keypoints_heading_joints", "1,7", "--replace_existing"]) != 0
    assert "--keypoints_heading_joints: expected two different joint indices in [0, 4) (left,right), found 1,7" in capsys.readouterr().err
    assert main(args + ["--keypoints_heading_joints", "hips"]) != 0
    assert "--keypoints_heading_joints: expected two joint indices 'left,right' (e.g. 16,7), found 'hips'" in capsys.readouterr().err


def test_openpose_takes_keep_the_neck_track(tmp_path):
    """OpenPose folders come back neck-relative from the loader: prepare adds the neck track back, so a
    person walking across the image walks in the features (root steps) and decodes in place."""
    from test_keypoints import _person, _write_frame

    for i in range(3):
        for t in range(30):  # neck moves 5 px a frame to the right; shoulders 40 px apart
            _write_frame(tmp_path / f"op{i}", t, [_person(t, offset=(100.0 + 5 * t + i, 50.0))])
        sf.write(tmp_path / f"op{i}.wav", 0.1 * np.sin(np.arange(int(1.5 * 16000)) / 7).astype(np.float32), 16000)
    prepare(tmp_path, settings(keypoints_fps=20), steps=("motion",), progress=False)
    feature = "openpose2d_cr_20fps"
    meta = json.loads((tmp_path / f"{feature}.meta.json").read_text())
    assert meta["settings"]["encoding"]["root_joint"] == 1 and meta["columns"][:2] == ["root_dx", "root_dy"]
    for i in range(3):
        pos = _decode_prepared(tmp_path, feature, f"op{i}")
        np.testing.assert_allclose(pos[:, 1, 0], (100.0 + 5 * np.arange(30) + i) / 40, atol=1e-4)  # neck x, shoulder widths
        np.testing.assert_allclose(pos[:, 1, 1], 50.0 / 40, atol=1e-4)
    with pytest.raises(MotionlabError, match="--keypoints_heading_joints: expected none for 2-D"):
        prepare(tmp_path, settings(keypoints_fps=20, keypoints_heading_joints=[2, 5]), steps=("motion",), progress=False, replace_existing=True)


def test_extract_audio_only(tmp_path):
    for i in range(3):
        sf.write(tmp_path / f"song{i}.wav", 0.1 * np.sin(np.arange(3 * 16000) / 10).astype(np.float32), 16000)
    summary = prepare(tmp_path, settings(), steps=("audio",), progress=False)
    assert summary.features == {"audio_mel16_onset_beats_20fps": 18}
    assert np.load(tmp_path / "song0.audio_mel16_onset_beats_20fps.npy").shape == (60, 18)


def test_word_timings_become_token_ids(takes):
    for i in range(4):  # the vocabulary comes from the train takes, so every take says the same words
        (takes / f"take{i}.words.csv").write_text("word,start,end\nhello,0.5,1.0\nworld,1.0,1.5\n")
    prepare(takes, settings(), progress=False)
    tokens = np.load(takes / "take0.text_tokens_20fps.npy")[:, 0]
    vocab = json.loads((takes / "vocabulary.json").read_text())
    assert tokens.shape == (120,) and tokens[5] == 0 and tokens[10] > 1 and tokens[20] > 1 and tokens[10] != tokens[20] and tokens[30] == 0
    assert "hello" in json.dumps(vocab) and "world" in json.dumps(vocab)


@pytest.mark.parametrize("fps", [20, 30])
def test_real_zeggs_take_audio_and_motion_line_up(real_data, tmp_path, fps):
    src = real_data / "paired" / "zeggs_067_speech_2"
    for p in src.iterdir():
        (tmp_path / p.name).symlink_to(p)
    summary = prepare(tmp_path, settings(fps=fps, split_mode="takes", val_fraction=0, test_fraction=0), progress=False)
    assert not summary.skipped and not summary.warnings
    a = np.load(tmp_path / f"067_Speech_2_x_1_0.audio_mel16_onset_beats_{fps}fps.npy")
    m = np.load(tmp_path / f"067_Speech_2_x_1_0.bvh_expmap_cr_{fps}fps.npy")
    assert a.shape[0] == m.shape[0] == round(2065 / 30 * fps)


def test_real_zeggs_prepare_train_generate_bvh_and_video(real_data, tmp_path, capsys):
    """The user story of the feature-extraction issue on the real speech take."""
    from motionlab.inference import generate as gen
    from media_probe import probe_duration
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    data = tmp_path / "data"
    data.mkdir()
    for p in (real_data / "paired" / "zeggs_067_speech_2").iterdir():
        (data / p.name).symlink_to(p)
    prepare(data, settings(val_fraction=0.2, test_fraction=0.1), progress=False)
    train(parse_options([
        "--hparams_file", "demo", "--data_dir", str(data), "--experiments_dir", str(tmp_path / "exp"), "--experiment_name", "z",
        "--input_modalities", "audio_mel16_onset_beats_20fps,bvh_expmap_cr_20fps", "--output_modalities", "bvh_expmap_cr_20fps",
        "--max_epochs", "1", "--limit_train_batches", "3", "--no-progress_bar",
    ]))
    out = tmp_path / "gen"
    args = gen.parse_args(["z", "067_Speech_2_x_1_0-test", "--experiments_dir", str(tmp_path / "exp"), "--output_folder", str(out), "--generate_bvh", "--generate_video", "--compare_ground_truth"])
    paths = gen.run(args)
    bvh = load_bvh(out / "z" / "067_Speech_2_x_1_0-test.bvh")
    source = load_bvh(real_data / "paired" / "zeggs_067_speech_2" / "067_Speech_2_x_1_0.bvh")
    assert bvh.skeleton.names == source.skeleton.names and bvh.skeleton.same_layout(source.skeleton)
    T = np.load(data / "067_Speech_2_x_1_0-test.bvh_expmap_cr_20fps.npy").shape[0]
    assert bvh.n_frames == T and bvh.fps == pytest.approx(20)
    d = probe_duration(out / "z" / "067_Speech_2_x_1_0-test.mp4")
    assert d["video_frames"] == T and abs(d["audio"] - T / 20) < 0.1
    assert d["size"] == (960, 480)  # --compare_ground_truth: the ground truth beside the generated motion
    assert len(paths) == 3

    args = gen.parse_args(["z", "--audio_file", str(real_data / "audio" / "speech" / "librispeech_198-209-0000.hq.ogg"), "--experiments_dir", str(tmp_path / "exp"), "--output_folder", str(out), "--generate_bvh", "--max_length", "60"])
    gen.run(args)
    assert load_bvh(out / "z" / "librispeech_198-209-0000.hq.bvh").n_frames == 60
    assert "seed: the mean pose of the train split" in capsys.readouterr().err  # new audio: a neutral seed, and it says so


def test_real_dance_import_extract_audio_and_video(real_data, tmp_path):
    """Dance with Melody: import (start offsets honoured), add audio features, draw a video with the cut song."""
    from motionlab.feature_extraction.importers.dance_melody import import_dance_melody
    from motionlab.inference.outputs import audio_for, write_video
    from media_probe import probe_duration

    out = tmp_path / "dance"
    takes = import_dance_melody(real_data / "paired" / "dance_with_melody", out, val_takes=["DANCE_W_24"])
    summary = prepare(out, settings(fps=25), steps=("audio",), progress=False)
    assert summary.frames == sum(t["n_frames"] for t in takes)  # every take, however many the folder holds
    assert (out / "base_filenames_val.txt").read_text().split() == ["DANCE_W_24"]
    motion = np.load(out / "DANCE_W_24.keypoints3d_cr_25fps.npy")
    audio = np.load(out / "DANCE_W_24.audio_mel16_onset_beats_25fps.npy")
    assert motion.shape[0] == audio.shape[0] == 970
    wav, start = audio_for(out, "DANCE_W_24")
    assert wav == out / "DANCE_W_24.wav" and start == 0.0
    video = write_video(out, "keypoints3d_cr_25fps", motion[:50], tmp_path / "w.mp4", "DANCE_W_24", wav, start, compare_features=motion[:60])
    d = probe_duration(video)
    assert d["video_frames"] == 50 and abs(d["audio"] - 2.0) < 0.1


def test_extract_scale_standardises_imported_features_once(tmp_path):
    from motionlab.cli import main
    from motionlab.datafolder import DataFolder
    from motionlab.feature_extraction.prepare import scale_features
    from motionlab.feature_extraction.scalers import StandardScaler

    rng = np.random.default_rng(0)
    raw = {f"s{i}": (100 + 30 * rng.standard_normal((20, 4))).astype(np.float32) for i in range(3)}
    for q, a in raw.items():
        np.save(tmp_path / f"{q}.pose.npy", a)
        np.save(tmp_path / f"{q}.text_tokens_20fps.npy", np.arange(20, dtype=np.float32)[:, None])
    for split, ids in (("train", ["s0", "s1"]), ("val", ["s2"]), ("test", [])):
        (tmp_path / f"base_filenames_{split}.txt").write_text("".join(f"{q}\n" for q in ids))
    DataFolder(tmp_path).write_meta("pose", 20, ["a", "b", "c", "d"], {"source": "some_importer"}, kind="keypoints")
    DataFolder(tmp_path).write_meta("text_tokens_20fps", 20, ["token_id"], {"source": "words", "scaled": False}, kind="text")

    assert scale_features(tmp_path) == {"pose": "scaled (3 sequences)", "text_tokens_20fps": "token ids: not scaled"}
    scaler = StandardScaler.load(tmp_path / "pose.scaler.npz")
    train = np.concatenate([np.load(tmp_path / f"s{i}.pose.npy") for i in (0, 1)])
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)  # fit on the train split only
    np.testing.assert_allclose(scaler.inverse_transform(np.load(tmp_path / "s2.pose.npy")), raw["s2"], rtol=1e-5)
    assert json.loads((tmp_path / "pose.meta.json").read_text())["settings"]["scaled"] is True
    assert np.load(tmp_path / "s0.text_tokens_20fps.npy")[5, 0] == 5
    before = np.load(tmp_path / "s2.pose.npy")
    assert main(["extract", "scale", str(tmp_path)]) == 0  # a second run changes nothing
    np.testing.assert_array_equal(np.load(tmp_path / "s2.pose.npy"), before)
    assert StandardScaler.load(tmp_path / "pose.scaler.npz").mean.tolist() == scaler.mean.tolist()
