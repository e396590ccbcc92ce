"""Importers: small files in each published layout -> the exact standard data folder.

The real Dance with Melody test runs only when MOTIONLAB_REAL_DATA points at the shared real
data (then it is mandatory: missing files fail); the data is read in place, never copied.
"""

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from motionlab.datafolder import DataFolder
from motionlab.feature_extraction.importers.dance_melody import import_dance_melody
from motionlab.feature_extraction.importers.pats import import_pats
from motionlab.feature_extraction.importers.sdt import import_sdt
from motionlab.feature_extraction.keypoints import decode_keypoints, keypoint_columns
from motionlab.utils.errors import MotionlabError

META_KEYS = {"feature", "fps", "dims", "columns", "settings", "kind"}


def _meta(out, feature):
    m = json.loads((out / f"{feature}.meta.json").read_text())
    assert META_KEYS <= set(m) and m["feature"] == feature and m["dims"] == len(m["columns"])
    return m


def _splits(out):
    return DataFolder(out).splits()


def open_feature(out, seq, feature):
    return DataFolder(out).open_feature(seq, feature)


DWM_FEATURE = "keypoints3d_cr_25fps"


def _world(skel, center):
    """Dance with Melody world positions (T, 24, 3): joints + center, then the center as joint 23."""
    return np.concatenate([skel + center[:, None], center[:, None]], axis=1)


def _decoded(out, seq, feature=DWM_FEATURE, features=None):
    """World positions of a sequence from its saved (raw or scaled) features, placed at its start state."""
    from motionlab.inference.outputs import positions_and_bones

    df = DataFolder(out)
    f = np.array(df.open_feature(seq, feature)) if features is None else features
    return positions_and_bones(out, feature, f, seq)[0]


def _no_temp_files(out):
    assert not [p.name for p in Path(out).iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------- Dance with Melody

SR = 1000  # 40 samples per 25 fps frame: exact sample arithmetic


def _dance_take(root, name, n, start, end, song_frames, seed=0):
    rng = np.random.default_rng(seed)
    d = root / name
    d.mkdir(parents=True)
    skel, center = rng.normal(size=(n, 23, 3)), rng.normal(size=(n, 3))
    (d / "skeletons.json").write_text(json.dumps({"length": n, "skeletons": skel.tolist(), "center": center.tolist()}))
    (d / "config.json").write_text(json.dumps({"start_position": start, "end_position": end}))
    song = np.stack([np.arange(song_frames * 40), -np.arange(song_frames * 40)], 1).astype(np.float32) / 1e4
    sf.write(str(d / "audio.mp3"), song, SR, format="WAV", subtype="FLOAT")  # libsndfile reads by content
    return skel, center, song


def test_dance_melody_writes_cut_audio_and_motion(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    skel_a, center_a, song_a = _dance_take(src, "DANCE_A_1", n=10, start=5, end=15, song_frames=30)
    skel_b, center_b, song_b = _dance_take(src, "DANCE_B_2", n=10, start=0, end=12, song_frames=12, seed=1)  # span > motion
    _dance_take(src, "DANCE_C_3", n=10, start=0, end=10, song_frames=10, seed=2)
    takes = import_dance_melody(src, out, val_takes=["DANCE_C_3"], test_takes=["DANCE_B_2"])
    assert [(t["take"], t["start_position"], t["offset_seconds"], t["n_frames"], t["split"]) for t in takes] == [
        ("DANCE_A_1", 5, 0.2, 10, "train"), ("DANCE_B_2", 0, 0.0, 10, "test"), ("DANCE_C_3", 0, 0.0, 10, "val")]
    for name, skel, center, song, start in (("DANCE_A_1", skel_a, center_a, song_a, 5), ("DANCE_B_2", skel_b, center_b, song_b, 0)):
        motion = open_feature(out, name, DWM_FEATURE)
        assert motion.shape == (10, 4 + 23 * 3) and motion.dtype == np.float32
        np.testing.assert_allclose(_decoded(out, name), _world(skel, center), atol=1e-4)  # joints and centre back in place
        wav, sr = sf.read(str(out / f"{name}.wav"), dtype="float32")
        assert sr == SR and wav.shape == (400, 2)  # 10 frames / 25 fps * 1000 Hz, stereo kept
        np.testing.assert_array_equal(wav, song[start * 40 : start * 40 + 400])
    m = _meta(out, DWM_FEATURE)
    assert m["fps"] == 25 and m["kind"] == "keypoints" and m["dims"] == 73 and m["settings"]["scaled"] is False
    assert m["columns"][:5] == ["root_dx", "root_dz", "root_dyaw", "root_y", "j0_x"] and m["columns"][-3:] == ["j22_x", "j22_y", "j22_z"]
    st = m["settings"]
    assert st["joints"] == 24 and st["encoding"]["root_joint"] == 23 and st["encoding"]["heading_joints"] == [16, 7]
    assert "trajectory_columns" not in st and st["left_joints"] == list(range(12, 22)) and st["right_joints"] == list(range(3, 12)) + [22]
    assert sorted(st["start_states"]) == ["DANCE_A_1", "DANCE_B_2", "DANCE_C_3"]
    np.testing.assert_allclose(st["start_states"]["DANCE_A_1"]["position"], center_a[0])
    assert _splits(out) == {"train": ["DANCE_A_1"], "val": ["DANCE_C_3"], "test": ["DANCE_B_2"]}
    # style = the letter after DANCE_: C is cha-cha in the dataset's naming, letters it does not name are kept
    assert json.loads((out / "speakers.json").read_text()) == {"DANCE_A_1": "A", "DANCE_B_2": "B", "DANCE_C_3": "cha-cha"}
    assert [t["style"] for t in takes] == ["A", "B", "cha-cha"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"DANCE_{t}.{ext}" for t in ("A_1", "B_2", "C_3") for ext in (f"{DWM_FEATURE}.npy", "wav")] + [f"{DWM_FEATURE}.meta.json"]
        + [f"base_filenames_{s}.txt" for s in ("train", "val", "test")] + ["speakers.json"]
    )


def test_dance_melody_time_split_puts_every_style_in_every_split(tmp_path):
    """--split_mode time: each take's last 20 % is <take>-test and the 20 % before it <take>-val, each
    encoded on its own (its joints decode to the take's own frames) with its own stretch of the song."""
    src, out = tmp_path / "src", tmp_path / "out"
    skel, center, song = _dance_take(src, "DANCE_C_1", n=10, start=5, end=15, song_frames=30)
    _dance_take(src, "DANCE_W_2", n=10, start=0, end=10, song_frames=10, seed=1)
    takes = import_dance_melody(src, out, split_mode="time", val_fraction=0.2, test_fraction=0.2)
    assert [(t["take"], t["split"], t["n_frames"], t["start_position"]) for t in takes] == [
        ("DANCE_C_1", "train", 6, 5), ("DANCE_C_1-val", "val", 2, 11), ("DANCE_C_1-test", "test", 2, 13),
        ("DANCE_W_2", "train", 6, 0), ("DANCE_W_2-val", "val", 2, 6), ("DANCE_W_2-test", "test", 2, 8)]
    assert _splits(out) == {"train": ["DANCE_C_1", "DANCE_W_2"], "val": ["DANCE_C_1-val", "DANCE_W_2-val"], "test": ["DANCE_C_1-test", "DANCE_W_2-test"]}
    assert DataFolder(out).speakers() == {t["take"]: ("cha-cha" if t["take"].startswith("DANCE_C") else "waltz") for t in takes}
    world = _world(skel, center)
    for name, lo, hi in (("DANCE_C_1", 0, 6), ("DANCE_C_1-val", 6, 8), ("DANCE_C_1-test", 8, 10)):
        np.testing.assert_allclose(_decoded(out, name), world[lo:hi], atol=1e-4)
        wav, _ = sf.read(str(out / f"{name}.wav"), dtype="float32")
        np.testing.assert_array_equal(wav, song[(5 + lo) * 40 : (5 + hi) * 40])
    with pytest.raises(MotionlabError, match="--split_mode time cuts every take in time: --val_takes/--test_takes name whole takes"):
        import_dance_melody(src, tmp_path / "out2", split_mode="time", test_takes=["DANCE_C_1"])


def test_dance_melody_styles_from_take_names(tmp_path):
    """Every take gets its dance style (R rumba, T tango, W waltz; lower-case letters too), read by
    the dataset as speaker labels; a folder not named DANCE_<letter>_<n> is refused before writing."""
    from motionlab.feature_extraction.importers.dance_melody import take_style

    assert [take_style(t) for t in ("DANCE_C_8", "DANCE_R_3", "DANCE_T_5", "DANCE_W_24", "DANCE_w_1", "DANCE_Q_1")] == [
        "cha-cha", "rumba", "tango", "waltz", "waltz", "Q"]
    src, out = tmp_path / "src", tmp_path / "out"
    for i, name in enumerate(("DANCE_R_1", "DANCE_T_2", "DANCE_W_3")):
        _dance_take(src, name, n=4, start=0, end=4, song_frames=4, seed=i)
    import_dance_melody(src, out)
    assert DataFolder(out).speakers() == {"DANCE_R_1": "rumba", "DANCE_T_2": "tango", "DANCE_W_3": "waltz"}
    _dance_take(src, "salsa_1", n=4, start=0, end=4, song_frames=4)
    for bad in ("salsa_1", "DANCE_4_1", "DANCE_C"):
        with pytest.raises(MotionlabError, match=rf"{bad}: take folder '{bad}' does not follow the Dance with Melody naming DANCE_<style letter>_<number>"):
            take_style(bad, str(src / bad))
    with pytest.raises(MotionlabError, match=r"src/salsa_1: take folder 'salsa_1' does not follow .*C cha-cha, R rumba, T tango, W waltz"):
        import_dance_melody(src, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_dance_melody_chooses_splits_when_none_are_named(tmp_path):
    """Without --val_takes/--test_takes the takes are shuffled into train/val/test (one each at least), like prepare."""
    src = tmp_path / "src"
    names = [f"DANCE_X_{i}" for i in range(5)]
    for i, name in enumerate(names):
        _dance_take(src, name, n=4, start=0, end=4, song_frames=4, seed=i)
    splits = _splits_of_import(src, tmp_path / "a")
    assert len(splits["val"]) == 1 and len(splits["test"]) == 1 and len(splits["train"]) == 3
    assert sorted(sum(splits.values(), [])) == names
    assert _splits_of_import(src, tmp_path / "b") == splits  # seeded: the same every time
    assert any(_splits_of_import(src, tmp_path / f"s{seed}", seed=seed) != splits for seed in range(1, 6))
    named = _splits_of_import(src, tmp_path / "c", val_takes=["DANCE_X_0"])  # the unnamed test split is still chosen
    assert named["val"] == ["DANCE_X_0"] and len(named["test"]) == 1 and "DANCE_X_0" not in named["train"] + named["test"]


def _splits_of_import(src, out, **kw):
    import_dance_melody(src, out, **kw)
    return _splits(out)


def test_dance_melody_too_few_takes_says_what_is_needed(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _dance_take(src, "DANCE_A_1", n=4, start=0, end=4, song_frames=4)
    _dance_take(src, "DANCE_B_2", n=4, start=0, end=4, song_frames=4, seed=1)
    with pytest.raises(MotionlabError, match=r"cannot choose the val and test takes: 2 takes .* at least 3 are needed.*--val_takes/--test_takes"):
        import_dance_melody(src, out)
    with pytest.raises(MotionlabError, match=r"cannot choose the test takes"):
        import_dance_melody(src, out, val_takes=["DANCE_A_1"])
    assert not out.exists()  # refused before anything was written


def test_import_cli_dance_melody_without_split_flags(tmp_path, capsys):
    from motionlab.cli import main

    src, out = tmp_path / "src", tmp_path / "out"
    for i in range(3):
        _dance_take(src, f"DANCE_Y_{i}", n=4, start=0, end=4, song_frames=4, seed=i)
    assert main(["import", "dance_melody", str(src), str(out)]) == 0
    splits = _splits(out)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    printed = capsys.readouterr().out
    assert f"val: {splits['val'][0]}, test: {splits['test'][0]}" in printed
    assert f"as motion feature {DWM_FEATURE}" in printed and f"--output_modalities {DWM_FEATURE}" in printed


def test_reimport_raw_arrays_makes_the_old_scaler_stale(tmp_path, capsys):
    """Defect: re-importing raw arrays kept the old scaler, so `extract scale` said "already scaled"
    over raw arrays and generation inverted them with a stale scaler."""
    from motionlab.cli import main
    from motionlab.inference import generate

    src, out = tmp_path / "src", tmp_path / "out"
    skel = {f"DANCE_Z_{i}": _dance_take(src, f"DANCE_Z_{i}", n=6, start=0, end=6, song_frames=6, seed=i)[:2] for i in range(3)}
    feature = DWM_FEATURE
    import_dance_melody(src, out)
    assert main(["extract", "scale", str(out)]) == 0
    assert f"{feature}: scaled (3 sequences)" in capsys.readouterr().out
    import_dance_melody(src, out)  # raw arrays again, into the same folder
    assert _meta(out, feature)["settings"]["scaled"] is False
    with pytest.raises(MotionlabError, match=rf"{feature}\.scaler\.npz: stale: .*re-run `motionlab extract scale {out}`"):
        DataFolder(out).scaler(feature)
    with pytest.raises(MotionlabError, match="stale"):  # what generation does with it
        generate.unscale(DataFolder(out), feature, np.zeros((1, 73), np.float32))
    assert main(["extract", "scale", str(out)]) == 0
    assert f"{feature}: rescaled" in capsys.readouterr().out
    df = DataFolder(out)
    for take, (s, c) in skel.items():
        np.testing.assert_allclose(_decoded(out, take, features=df.scaler(feature).inverse_transform(df.open_feature(take, feature))), _world(s, c), atol=1e-3)
    assert main(["extract", "scale", str(out)]) == 0
    assert f"{feature}: already scaled" in capsys.readouterr().out


def test_dance_melody_validation_errors_write_nothing(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _dance_take(src, "OK", n=4, start=0, end=4, song_frames=4)
    _dance_take(src, "SHORT", n=10, start=5, end=15, song_frames=12)  # song ends 3 frames early
    with pytest.raises(MotionlabError, match=r"SHORT/audio\.mp3: song too short"):
        import_dance_melody(src, out)
    assert not out.exists()  # validated before any write

    d = src / "SHORT"
    (d / "skeletons.json").write_text(json.dumps({"length": 2, "skeletons": np.zeros((2, 22, 3)).tolist(), "center": np.zeros((2, 3)).tolist()}))
    with pytest.raises(MotionlabError, match=r"SHORT/skeletons\.json: 'skeletons' expected shape N x 23 x 3, found \(2, 22, 3\)"):
        import_dance_melody(src, out)
    (d / "skeletons.json").write_text(json.dumps({"length": 2, "skeletons": np.zeros((2, 23, 3)).tolist()}))
    with pytest.raises(MotionlabError, match=r"SHORT/skeletons\.json: missing key 'center'"):
        import_dance_melody(src, out)
    (d / "config.json").unlink()
    with pytest.raises(MotionlabError, match=r"SHORT/config\.json: file not found"):
        import_dance_melody(src, out)


REAL_TAKES = {"DANCE_C_8": (485, 1271), "DANCE_R_8": (133, 2178), "DANCE_T_5": (0, 2504), "DANCE_W_24": (134, 970)}


def test_dance_melody_real_takes(tmp_path, real_data):
    src = real_data / "paired" / "dance_with_melody"
    for take in REAL_TAKES:
        for f in ("skeletons.json", "audio.mp3", "config.json"):
            assert (src / take / f).is_file(), f"real data file missing: {src / take / f}"
    out = tmp_path / "dance"
    takes = {t["take"]: t for t in import_dance_melody(src, out)}  # no split flags: splits are chosen
    assert set(REAL_TAKES) <= set(takes)  # the folder may hold more takes than these four
    for take, (start, n) in REAL_TAKES.items():
        t = takes[take]
        assert (t["start_position"], t["n_frames"], t["offset_seconds"]) == (start, n, start / 25)
        assert open_feature(out, take, DWM_FEATURE).shape == (n, 73)
        info = sf.info(str(out / f"{take}.wav"))
        assert abs(info.frames - n / 25 * info.samplerate) <= 1  # audio duration == motion duration
        song, sr = sf.read(str(src / take / "audio.mp3"), dtype="float32")
        assert sr == info.samplerate
        cut, _ = sf.read(str(out / f"{take}.wav"), dtype="float32")
        first = int(round(start / 25 * sr))
        np.testing.assert_array_equal(cut, song[first : first + len(cut)])  # starts at start_position / 25 s
        if start > 0:  # the comparison can tell a one-frame offset error apart
            shifted = song[first - sr // 25 : first - sr // 25 + len(cut)]
            assert np.abs(cut - shifted).max() > 1e-2
    splits = _splits(out)
    assert sorted(sum(splits.values(), [])) == sorted(takes)
    assert splits["val"] and splits["test"] and splits["train"]  # never an empty split that training trips over
    styles = DataFolder(out).speakers()
    assert sorted(styles) == sorted(takes) and {styles[t] for t in REAL_TAKES} == {"cha-cha", "rumba", "tango", "waltz"}
    assert all(styles[t] == {"C": "cha-cha", "R": "rumba", "T": "tango", "W": "waltz"}[t.split("_")[1]] for t in takes)
    _no_temp_files(out)


def test_real_dance_root_trajectory_is_steps_that_decode_to_the_source(tmp_path, real_data, capsys):
    """Defect: the keypoint features kept the absolute root position (root-relative joints + the
    centre), so a sampled dance drifted and jumped (the root moving ~100x the real per-frame
    distance). Now the root is stored as per-frame steps and turns: the features are the same
    wherever the take is in the room, and decoding them from the sequence's start state (through
    outputs.positions_and_bones, as generation draws the ground truth) gives the source world
    trajectory back with the source's per-frame root displacement."""
    from motionlab.cli import main

    src = real_data / "paired" / "dance_with_melody"
    names = sorted(p.parent.name for p in src.glob("*/skeletons.json"))
    assert len(names) >= 3, f"expected at least 3 Dance with Melody takes under {src}, found {names}"
    take, val, test = names[0], names[1], names[2]  # any takes present
    # the same takes, with `take` moved 300 cm along x and -200 along z in the room
    moved = tmp_path / "moved"
    for name in (take, val, test):
        (moved / name).mkdir(parents=True)
        for f in ("audio.mp3", "config.json") + (() if name == take else ("skeletons.json",)):
            (moved / name / f).symlink_to(src / name / f)
    sk = json.loads((src / take / "skeletons.json").read_text())
    center = np.asarray(sk["center"], dtype=np.float64)
    skel = np.asarray(sk["skeletons"], dtype=np.float64)
    shift = np.array([300.0, 0.0, -200.0])
    (moved / take / "skeletons.json").write_text(json.dumps({**sk, "center": (center + shift).tolist()}))

    out, out_moved = tmp_path / "dance", tmp_path / "dance_moved"
    assert main(["import", "dance_melody", str(src), str(out)]) == 0
    assert main(["import", "dance_melody", str(moved), str(out_moved), "--val_takes", val, "--test_takes", test]) == 0
    capsys.readouterr()

    feats = np.array(open_feature(out, take, DWM_FEATURE))
    pos = _decoded(out, take)
    root = DataFolder(out).meta(DWM_FEATURE)["settings"]["encoding"]["root_joint"]
    np.testing.assert_allclose(pos[:, root], center, atol=2e-3)  # the world root trajectory (cm), exactly
    np.testing.assert_allclose(pos, _world(skel, center), atol=2e-3)
    src_step, dec_step = np.diff(center, axis=0), np.diff(pos[:, root], axis=0)
    np.testing.assert_allclose(dec_step, src_step, atol=1e-4)  # no drift, no jumps
    # what the model sees carries steps, not room positions: the step columns are as small as the real steps
    horizontal = np.linalg.norm(src_step[:, [0, 2]], axis=1)
    assert np.abs(feats[:, :2]).max() <= horizontal.max() + 1e-3
    np.testing.assert_allclose(np.linalg.norm(feats[:-1, :2], axis=1), horizontal, atol=1e-4)
    # ... and do not depend on where the take is; only its start state does
    np.testing.assert_allclose(np.array(open_feature(out_moved, take, DWM_FEATURE)), feats, atol=1e-4)
    np.testing.assert_allclose(_decoded(out_moved, take), _world(skel, center + shift), atol=2e-3)


# ----------------------------------------------------------------- PATS


def _pats_interval(path, t, t_audio, seed, text=True, pose_cols=104):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"pose/data": rng.normal(size=(t, pose_cols)), "pose/normalize": rng.normal(size=(t, pose_cols)), "audio/log_mel_400": rng.normal(size=(t_audio, 64))}
    if text:
        arrays["text/bert"] = rng.normal(size=(t, 8))
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
        f.create_group("text/meta").create_dataset("axis0", data=np.arange(3))  # pandas frame: ignored
    return arrays


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _pats_layout(root):
    data = {
        "101": _pats_interval(root / "processed" / "oliver" / "101.h5", 6, 6, 0),
        "102": _pats_interval(root / "processed" / "oliver" / "102.h5", 5, 33, 1),
        "201": _pats_interval(root / "processed" / "bee" / "201.h5", 4, 4, 2),
    }
    _write_csv(
        root / "cmu_intervals_df.csv",
        ["", "dataset", "delta_time", "interval_id", "speaker", "video_link"],
        [[0, "train", 1.0, "101", "oliver", "x"], [1, "dev", 1.0, "102", "oliver", "x"], [2, "test", 1.0, "201", "bee", "x"], [3, "train", 1.0, "999", "bee", "x"]],
    )
    return data


def test_pats_import_exact(tmp_path):
    src, out = tmp_path / "pats" / "data", tmp_path / "out"
    data = _pats_layout(src)
    splits = import_pats(src, out)
    assert splits == {"201": "test", "101": "train", "102": "val"}  # 999 has no h5: skipped
    assert _splits(out) == {"train": ["101"], "val": ["102"], "test": ["201"]}
    assert json.loads((out / "speakers.json").read_text()) == {"201": "bee", "101": "oliver", "102": "oliver"}
    for seq, arrays in data.items():
        pose = open_feature(out, seq, "pose_normalize")
        src_pose = arrays["pose/normalize"]
        assert pose.shape == (len(src_pose), 104)
        np.testing.assert_allclose(pose[:, 0::2], src_pose[:, :52].astype(np.float32))  # j{k}_x = k-th x
        np.testing.assert_allclose(pose[:, 1::2], src_pose[:, 52:].astype(np.float32))
        np.testing.assert_allclose(open_feature(out, seq, "text_bert"), arrays["text/bert"].astype(np.float32))
        audio = open_feature(out, seq, "audio_log_mel_400")
        assert audio.shape == (len(src_pose), 64)
    np.testing.assert_allclose(open_feature(out, "101", "audio_log_mel_400"), data["101"]["audio/log_mel_400"].astype(np.float32))
    # 33 mel frames over 5 pose frames: frame k is sampled at mel position (k + 0.5) * 33 / 5 - 0.5
    mel = data["102"]["audio/log_mel_400"]
    pos = (np.arange(5) + 0.5) * 33 / 5 - 0.5
    want = np.stack([np.interp(pos, np.arange(33), mel[:, c]) for c in range(64)], 1)
    np.testing.assert_allclose(open_feature(out, "102", "audio_log_mel_400"), want, rtol=1e-5, atol=1e-6)
    m = _meta(out, "pose_normalize")
    assert m["fps"] == 15 and m["columns"] == keypoint_columns(52, 2) and m["kind"] == "keypoints"
    assert _meta(out, "audio_log_mel_400")["dims"] == 64 and _meta(out, "text_bert")["dims"] == 8
    assert not (out / "101.pose_data.npy").exists()
    _no_temp_files(out)


def test_pats_split_column_alias_and_errors(tmp_path):
    src, out = tmp_path / "data", tmp_path / "out"
    _pats_interval(src / "processed" / "s" / "7.h5", 3, 3, 0)
    _write_csv(src / "cmu_intervals_df.csv", ["interval_id", "speaker", "split"], [["7", "s", "dev"]])
    with pytest.raises(MotionlabError, match=r"cmu_intervals_df\.csv: the published splits .* train split would be empty"):
        import_pats(src, out, pose_keys=("pose/data", "pose/normalize"), allow_empty_splits=True)
    assert not out.exists()
    _pats_interval(src / "processed" / "s" / "6.h5", 3, 3, 2)
    _write_csv(src / "cmu_intervals_df.csv", ["interval_id", "speaker", "split"], [["6", "s", "train"], ["7", "s", "dev"]])
    with pytest.raises(MotionlabError, match=r"cmu_intervals_df\.csv: .*the test split would be empty.*--allow_empty_splits"):
        import_pats(src, out, pose_keys=("pose/data", "pose/normalize"))
    assert not out.exists()  # checked before anything is written
    assert import_pats(src, out, pose_keys=("pose/data", "pose/normalize"), allow_empty_splits=True) == {"6": "train", "7": "val"}
    assert _splits(out) == {"train": ["6"], "val": ["7"], "test": []}
    assert open_feature(out, "7", "pose_data").shape == (3, 104)
    (src / "processed" / "s" / "6.h5").unlink()

    _pats_interval(src / "processed" / "s" / "8.h5", 3, 3, 1, text=False)
    _write_csv(src / "cmu_intervals_df.csv", ["interval_id", "speaker", "split"], [["7", "s", "train"], ["8", "s", "train"]])
    with pytest.raises(MotionlabError, match=r"8\.h5: missing dataset 'text/bert'"):
        import_pats(src, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()
    _pats_interval(src / "processed" / "s" / "8.h5", 3, 3, 1, pose_cols=100)
    with pytest.raises(MotionlabError, match=r"8\.h5: dataset 'pose/normalize' expected shape \(T, 104\).*found \(3, 100\)"):
        import_pats(src, tmp_path / "o2")
    _pats_interval(src / "processed" / "s" / "9.h5", 3, 3, 1)
    (src / "processed" / "s" / "8.h5").unlink()
    with pytest.raises(MotionlabError, match=r"9\.h5: interval 9 is not listed in .*cmu_intervals_df\.csv"):
        import_pats(src, tmp_path / "o2")
    _write_csv(src / "cmu_intervals_df.csv", ["interval_id", "speaker"], [["7", "s"]])
    with pytest.raises(MotionlabError, match=r"cmu_intervals_df\.csv: missing split column; expected one of \['dataset', 'split'\]"):
        import_pats(src, tmp_path / "o2")


# ----------------------------------------------------------------- Speech Drives Templates


def _sdt_clip(path, seed, t=64, n_points=137, sr=None, audio_len=1000):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pose = rng.uniform(0, 500, size=(t, 3, n_points))
    audio = rng.uniform(-0.5, 0.5, size=audio_len).astype(np.float32)
    extra = {"sr": np.array(sr)} if sr else {}
    np.savez(path, pose=pose, imgs=np.array([f"f{i}.jpg" for i in range(t)]), audio=audio, **extra)
    return pose, audio


def _sdt_speaker(root, speaker, clips):
    """clips: (name, split, seed) -> csv rows like SDT's processed_137.csv."""
    data, rows = {}, []
    for name, split, seed in clips:
        data[name] = _sdt_clip(root / speaker / "clips" / "npz" / f"{name}.npz", seed)
        rows.append([split, 0, 64, "vid", f"clips/npz/{name}.npz", f"clips/audio/{name}.wav", "vid", speaker])
    _write_csv(root / speaker / "processed_137.csv", ["dataset", "start", "end", "interval_id", "pose_fn", "audio_fn", "video_fn", "speaker"], rows)
    return data


def test_sdt_import_exact(tmp_path):
    src, out = tmp_path / "speakers", tmp_path / "out"
    data = _sdt_speaker(src, "oliver", [("v1-80-144", "train", 0), ("v1-85-149", "idle", 1), ("v1-90-154", "dev", 2)])
    data.update(_sdt_speaker(src, "luo", [("v2-80-144", "test", 3)]))
    splits = import_sdt(src, out)
    assert splits == {"v2-80-144": "test", "v1-80-144": "train", "v1-90-154": "val"}  # idle dropped
    assert _splits(out) == {"train": ["v1-80-144"], "val": ["v1-90-154"], "test": ["v2-80-144"]}
    assert json.loads((out / "speakers.json").read_text()) == {"v2-80-144": "luo", "v1-80-144": "oliver", "v1-90-154": "oliver"}
    for name in splits:
        pose, audio = data[name]
        feat = open_feature(out, name, "pose2d")
        assert feat.shape == (64, 274)
        want = (pose[:, :2, :] - pose[:, :2, 1:2]).transpose(0, 2, 1).reshape(64, 274)  # neck-relative x, y per point
        np.testing.assert_allclose(feat, want.astype(np.float32), rtol=1e-5, atol=1e-4)
        assert np.all(feat[:, 2:4] == 0)
        wav, sr = sf.read(str(out / f"{name}.wav"), dtype="float32")
        assert sr == 16000
        np.testing.assert_array_equal(wav, audio)
    assert not (out / "v1-85-149.pose2d.npy").exists()
    m = _meta(out, "pose2d")
    assert m["fps"] == 15 and m["columns"] == keypoint_columns(137, 2) and m["kind"] == "keypoints"
    _no_temp_files(out)


def test_sdt_sample_rate_split_alias_and_errors(tmp_path):
    src = tmp_path / "oliver"
    _sdt_clip(src / "a.npz", 0, sr=22050)
    _sdt_clip(src / "b.npz", 1)
    _write_csv(src / "clips.csv", ["npz_fn", "split", "speaker"], [["a.npz", "val", "oliver"], ["b.npz", "train", "oliver"]])
    with pytest.raises(MotionlabError, match=r"oliver: the published splits .* the test split would be empty"):
        import_sdt(src, tmp_path / "out", audio_sr=8000)
    assert not (tmp_path / "out").exists()
    assert import_sdt(src, tmp_path / "out", audio_sr=8000, allow_empty_splits=True) == {"a": "val", "b": "train"}
    assert sf.info(str(tmp_path / "out" / "a.wav")).samplerate == 22050  # stored rate wins
    assert sf.info(str(tmp_path / "out" / "b.wav")).samplerate == 8000  # else the argument

    np.savez(src / "b.npz", pose=np.zeros((64, 3, 137)))
    with pytest.raises(MotionlabError, match=r"b\.npz: missing key 'audio'"):
        import_sdt(src, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()
    np.savez(src / "b.npz", pose=np.zeros((64, 2, 137)), audio=np.zeros(10))
    with pytest.raises(MotionlabError, match=r"b\.npz: 'pose' expected shape \(T, 3, 137\).*found \(64, 2, 137\)"):
        import_sdt(src, tmp_path / "o2")
    _write_csv(src / "clips.csv", ["npz_fn", "split", "speaker"], [["gone.npz", "train", "oliver"]])
    with pytest.raises(MotionlabError, match=r"clips\.csv: clip file 'gone\.npz' not found"):
        import_sdt(src, tmp_path / "o2")
    _write_csv(src / "clips.csv", ["npz_fn", "split", "speaker"], [["a.npz", "holdout", "oliver"]])
    with pytest.raises(MotionlabError, match=r"clips\.csv line 2: unknown split 'holdout'"):
        import_sdt(src, tmp_path / "o2")
