"""inference.outputs: features of a data folder back to positions (placed at the sequence's start) and videos."""

import json

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from motionlab.datafolder import DataFolder
from motionlab.feature_extraction.importers.dance_melody import import_dance_melody
from motionlab.inference import outputs
from motionlab.utils.errors import MotionlabError

FEATURE = "keypoints3d_cr_25fps"


def _dance_folder(root, n=16):
    """Three small Dance with Melody takes (a body walking and turning) imported into ``root/out``; returns (out, world)."""
    src, world = root / "src", {}
    rng = np.random.default_rng(0)
    for i in range(3):
        d = src / f"DANCE_S_{i}"
        d.mkdir(parents=True)
        t = np.arange(n)
        rest = rng.normal(scale=20, size=(23, 3))
        rest[16], rest[7] = [10, -5, 0], [-10, -5, 0]  # left hip at +x, right hip at -x: facing +z
        yaw = 0.1 * t + i
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.stack([np.stack([c, 0 * c, s], -1), np.stack([0 * c, 1 + 0 * c, 0 * c], -1), np.stack([-s, 0 * c, c], -1)], -2)
        skel = np.einsum("tij,kj->tki", rot, rest) + rng.normal(scale=0.5, size=(n, 23, 3))
        center = np.stack([100 * i + 3 * t, 90 + np.sin(t), -50 + 2 * t], 1)
        (d / "skeletons.json").write_text(json.dumps({"length": n, "skeletons": skel.tolist(), "center": center.tolist()}))
        (d / "config.json").write_text(json.dumps({"start_position": 0, "end_position": n}))
        sf.write(str(d / "audio.mp3"), 0.1 * np.sin(np.arange(n * 40) / 5).astype(np.float32), 1000, format="WAV")
        world[d.name] = np.concatenate([skel + center[:, None], center[:, None]], axis=1)
    out = root / "out"
    import_dance_melody(src, out, val_takes=["DANCE_S_1"], test_takes=["DANCE_S_2"])
    return out, world


def _size(path):
    meta = next(imageio_ffmpeg.read_frames(str(path)))
    return tuple(meta["size"])


def test_keypoints_decode_at_the_sequence_start_state(tmp_path):
    out, world = _dance_folder(tmp_path)
    df = DataFolder(out)
    for seq, w in world.items():
        feats = np.array(df.open_feature(seq, FEATURE))
        pos, edges, up = outputs.positions_and_bones(out, FEATURE, feats, seq)
        np.testing.assert_allclose(pos, w, atol=1e-3)
        assert up == "y" and edges and all(max(e) < 24 for e in edges)
        # without a known sequence (new audio) the same motion starts at the origin, facing +z
        fresh = outputs.positions_and_bones(out, FEATURE, feats, None)[0]
        np.testing.assert_allclose(fresh[0, 23, [0, 2]], 0, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(np.diff(fresh[:, 23], axis=0), axis=1), np.linalg.norm(np.diff(w[:, 23], axis=0), axis=1), atol=1e-3)


def test_write_video_with_ground_truth_doubles_the_width(tmp_path):
    out, world = _dance_folder(tmp_path)
    truth = np.array(DataFolder(out).open_feature("DANCE_S_0", FEATURE))
    gen = truth + np.float32(0.01)
    single = outputs.write_video(out, FEATURE, gen, tmp_path / "one.mp4", "DANCE_S_0")
    both = outputs.write_video(out, FEATURE, gen, tmp_path / "two.mp4", "DANCE_S_0", compare_features=truth[:-3])
    (w, h), (w2, h2) = _size(single), _size(both)
    assert h2 == h and w2 == 2 * w
    frames = list(imageio_ffmpeg.read_frames(str(both)))[1:]
    assert len(frames) == len(truth) - 3  # both cut to the shorter
    with pytest.raises(MotionlabError, match=r"compare_features: expected ground truth of 'keypoints3d_cr_25fps' with shape \(frames, 73\), found \(13, 72\)"):
        outputs.write_video(out, FEATURE, gen, tmp_path / "bad.mp4", "DANCE_S_0", compare_features=truth[:-3, :-1])
    assert not (tmp_path / "bad.mp4").exists()


@pytest.fixture
def captured(monkeypatch):
    """render_video replaced by a recorder: what write_video hands to the renderer."""
    from motionlab.inference import render

    calls = []

    def fake(positions, out_path, fps, **kw):
        calls.append({"positions": positions, "fps": fps, **kw})
        return out_path

    monkeypatch.setattr(render, "render_video", fake)
    return calls


def test_write_video_passes_sides_ground_truth_and_start(tmp_path, captured):
    out, world = _dance_folder(tmp_path)
    truth = np.array(DataFolder(out).open_feature("DANCE_S_1", FEATURE))
    outputs.write_video(out, FEATURE, truth[:10], tmp_path / "v.mp4", "DANCE_S_1", compare_features=truth)
    kw = captured[-1]
    assert kw["left_joints"] == list(range(12, 22)) and kw["right_joints"] == list(range(3, 12)) + [22]
    assert kw["joint_names"] is None and kw["parents"] is None and kw["edges"] and kw["up_axis"] == "y" and kw["fps"] == 25
    np.testing.assert_allclose(kw["positions"], world["DANCE_S_1"][:10], atol=1e-3)
    np.testing.assert_allclose(kw["compare_positions"], world["DANCE_S_1"][:10], atol=1e-3)


def test_write_video_names_bvh_joints(tmp_path, captured):
    from test_prepare import write_take

    from motionlab.feature_extraction.prepare import PrepareSettings, prepare

    for i in range(3):
        write_take(tmp_path, f"take{i}", 2, seed=i)
    prepare(tmp_path, PrepareSettings(fps=20), steps=("motion",), progress=False)
    feature = "bvh_expmap_cr_20fps"
    df = DataFolder(tmp_path)
    truth = df.scaler(feature).inverse_transform(np.array(df.open_feature("take0", feature)))
    outputs.write_video(tmp_path, feature, truth, tmp_path / "v.mp4", "take0", compare_features=truth)
    kw = captured[-1]
    assert kw["joint_names"] == ["Hips", "LeftLeg", "RightLeg", "Spine"] and kw["parents"] == [-1, 0, 0, 0]
    assert kw["compare_positions"].shape == kw["positions"].shape


def test_flattened_keypoints_without_encoding_still_draw(tmp_path):
    """PATS/SDT write plain flattened joints (no "encoding"): drawn as stored, plus any trajectory columns."""
    df = DataFolder(tmp_path)
    kp = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    center = np.arange(15, dtype=np.float32).reshape(5, 3)
    df.write_meta("pose", 15, ["a"] * 9, {"joints": 2, "dims": 3, "trajectory_columns": 3, "left_joints": [0]}, kind="keypoints")
    pos, bones, up = outputs.positions_and_bones(tmp_path, "pose", np.concatenate([kp.reshape(5, 6), center], 1))
    np.testing.assert_allclose(pos, kp + center[:, None])
    assert bones is None and up == "y"
