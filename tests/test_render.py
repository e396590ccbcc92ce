"""Video rendering: frame count, durations with muxed audio, 2D keypoints, the following camera, left/right
colours, the ground-truth panel, and atomic failure behaviour (decoded frames are measured, not eyeballed)."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from media_probe import probe_duration
from motionlab.inference.render import _bone_sides, _joint_sides, render_video
from motionlab.utils.errors import MotionlabError

FPS = 20
PARENTS = [-1, 0, 1, 0, 3]


def skeleton(seconds: float = 2.0) -> np.ndarray:
    """A 5-joint (hips, spine, head, knee, foot) figure swaying sideways, y up."""
    t = np.arange(int(seconds * FPS)) / FPS
    base = np.array([[0, 1, 0], [0, 1.5, 0], [0, 1.8, 0], [0, 0.5, 0.2], [0, 0, 0.2]], float)
    sway = np.stack([0.3 * np.sin(2 * np.pi * t), 0 * t, 0 * t], -1)
    return base[None] + sway[:, None]


# An 11-joint figure 1.8 tall, y up, facing +z (its left at +x), walking 20 m along +x in 3 s.
WALK_NAMES = ["Hips", "Spine", "Head", "LeftUpLeg", "LeftFoot", "RightUpLeg", "RightFoot", "LeftArm", "LeftHand", "RightArm", "RightHand"]
WALK_PARENTS = [-1, 0, 1, 0, 3, 0, 5, 1, 7, 1, 9]


def walker(seconds: float = 3.0, distance: float = 20.0) -> np.ndarray:
    t = np.arange(int(seconds * FPS)) / FPS
    base = np.array([[0, 1, 0], [0, 1.5, 0], [0, 1.8, 0], [0.15, 0.95, 0], [0.15, 0, 0], [-0.15, 0.95, 0], [-0.15, 0, 0], [0.2, 1.45, 0], [0.3, 1.0, 0], [-0.2, 1.45, 0], [-0.3, 1.0, 0]])
    pos = np.broadcast_to(base, (len(t), 11, 3)).copy()
    swing = 0.3 * np.sin(2 * np.pi * t)
    pos[:, 4, 2] += swing
    pos[:, 6, 2] -= swing
    pos[..., 0] += (distance * t / t[-1])[:, None]
    return pos


def frames_of(path: Path) -> np.ndarray:
    """All decoded frames (N, H, W, 3) uint8."""
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen])


def ink(frame: np.ndarray) -> np.ndarray:
    """Mask of skeleton pixels: dark or saturated (the background is white, the grid light grey)."""
    return frame.min(axis=-1) < 120


def grid_mask(frame: np.ndarray) -> np.ndarray:
    """Mask of floor-grid pixels: light, unsaturated grey."""
    f = frame.astype(int)
    return (f.min(-1) > 150) & (f.max(-1) < 230) & (f.max(-1) - f.min(-1) < 20)


def sine_wav(path: Path, seconds: float, sr: int = 22050) -> Path:
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr), sr)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


def test_3d_with_audio_has_motion_duration(tmp_path):
    out = render_video(skeleton(), tmp_path / "out.mp4", FPS, parents=PARENTS, audio_path=sine_wav(tmp_path / "a.wav", 2.0), title="demo")
    assert out == tmp_path / "out.mp4" and out.stat().st_size > 0
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == 40
    d = probe_duration(out)
    assert d["video_frames"] == 40
    assert abs(d["video"] - 2.0) <= 1 / FPS
    assert d["audio"] is not None and abs(d["audio"] - 2.0) < 0.1
    assert leftovers(tmp_path) == []


def test_longer_audio_is_cut_to_motion(tmp_path):
    out = render_video(skeleton(), tmp_path / "out.mp4", FPS, parents=PARENTS, audio_path=sine_wav(tmp_path / "a.wav", 5.0), audio_start=1.0)
    d = probe_duration(out)
    assert d["video_frames"] == 40
    assert abs(d["audio"] - 2.0) < 0.1
    assert abs(d["duration"] - 2.0) < 0.1


def test_2d_keypoints_odd_size_no_audio(tmp_path):
    pos = skeleton(1.0)[..., :2] * [100, -100] + [240, 300]  # image coordinates, y down
    out = render_video(pos, tmp_path / "kp.mp4", FPS, edges=[(0, 1), (1, 2), (0, 3), (3, 4)], size=(201, 151), dpi=50)
    d = probe_duration(out)
    assert d["video_frames"] == 20 and d["audio"] is None


def test_points_only_and_z_up(tmp_path):
    out = render_video(skeleton(0.5)[..., [0, 2, 1]], tmp_path / "pts.mp4", FPS, up_axis="z")
    assert probe_duration(out)["video_frames"] == 10


def test_camera_follows_a_walker_at_body_scale(tmp_path):
    """A figure walking 20 m stays centred and ~70% of the frame height, and the floor grid slides under it."""
    out = render_video(walker(), tmp_path / "walk.mp4", FPS, parents=WALK_PARENTS, joint_names=WALK_NAMES, size=(320, 240))
    frames = frames_of(out)
    assert frames.shape == (60, 240, 320, 3)
    for k in (0, 30, 59):
        rows, cols = np.nonzero(ink(frames[k]))
        height = (rows.max() - rows.min() + 1) / 240
        assert 0.55 < height < 0.9, (k, height)
        assert abs(cols.mean() / 320 - 0.5) < 0.1, (k, cols.mean())
    moved = (grid_mask(frames[0]) != grid_mask(frames[30])).mean()
    assert moved > 0.02  # the world (grid) moved relative to the camera


def test_grid_still_when_the_character_stands(tmp_path):
    out = render_video(walker(distance=0.0), tmp_path / "stand.mp4", FPS, parents=WALK_PARENTS, size=(320, 240))
    frames = frames_of(out)
    assert (grid_mask(frames[0]) != grid_mask(frames[30])).mean() < 0.005


def test_left_and_right_limbs_have_different_colours(tmp_path):
    out = render_video(walker(1.0), tmp_path / "lr.mp4", FPS, parents=WALK_PARENTS, joint_names=WALK_NAMES)
    f = frames_of(out)[10].astype(int)
    red = (f[..., 0] > 150) & (f[..., 1] < 100) & (f[..., 2] < 100)
    blue = (f[..., 2] > 130) & (f[..., 0] < 100)
    assert red.sum() > 100 and blue.sum() > 100
    # seen from the front, the character's left (red) is on the right of the picture
    assert np.nonzero(red)[1].mean() > np.nonzero(blue)[1].mean()
    # without side information every bone is one colour
    f = frames_of(render_video(walker(1.0), tmp_path / "mono.mp4", FPS, parents=WALK_PARENTS))[10].astype(int)
    assert ((f[..., 0] > 150) & (f[..., 1] < 100) & (f[..., 2] < 100)).sum() == 0


def test_joint_sides_from_names_and_indices():
    sides = _joint_sides(len(WALK_NAMES), WALK_NAMES, None, None)
    assert sides.tolist() == [0, 0, 0, 1, 1, 2, 2, 1, 1, 2, 2]
    assert _joint_sides(4, ["l_hip", "Hip_R", "LHipJoint", "Neck"], None, None).tolist() == [1, 2, 1, 0]
    assert _joint_sides(4, ["a", "b", "c", "d"], [3], [0]).tolist() == [2, 0, 0, 1]
    assert _joint_sides(3, ["Left", "b", "c"], None, [0]).tolist() == [2, 0, 0]  # explicit lists win
    # limb bones take their side; the hip-to-hip bone (left to right) stays centre
    bones = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    assert _bone_sides(bones, np.array([0, 1, 1, 2, 2])).tolist() == [1, 1, 0, 2]
    with pytest.raises(MotionlabError, match="joint_names: expected 4 names"):
        _joint_sides(4, ["a"], None, None)
    with pytest.raises(MotionlabError, match="disjoint"):
        _joint_sides(4, None, [1, 2], [2])


def test_ground_truth_panel_doubles_the_width(tmp_path):
    gen = walker(1.0)
    out = render_video(gen, tmp_path / "cmp.mp4", FPS, parents=WALK_PARENTS, joint_names=WALK_NAMES, compare_positions=walker(1.0, distance=5.0), size=(200, 150), title="take")
    frames = frames_of(out)
    assert frames.shape == (20, 150, 400, 3)
    for half in (frames[10, :, :200], frames[10, :, 200:]):  # a skeleton centred in each panel
        cols = np.nonzero(ink(half[30:]))[1]
        assert abs(cols.mean() / 200 - 0.5) < 0.12
    with pytest.raises(MotionlabError, match=r"compare_positions: expected the shape of positions \(20, 11, 3\), found \(19, 11, 3\)"):
        render_video(gen, tmp_path / "bad.mp4", FPS, compare_positions=gen[1:])
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positions=np.zeros((10, 5))), r"\(T, J, 3\).*found shape \(10, 5\)"),
        (dict(positions=np.full((10, 5, 3), np.nan)), "NaN"),
        (dict(audio_path="missing.wav"), "missing.wav"),
        (dict(parents=[-1, 0, 9, 0, 3]), "parents"),
        (dict(compare_positions=np.zeros((10, 5))), r"compare_positions: expected shape"),
        (dict(left_joints=[7]), r"left_joints: expected joint indices in \[0, 5\)"),
        (dict(camera_smoothing=-1.0), "camera_smoothing"),
    ],
)
def test_errors_leave_folder_untouched(tmp_path, kwargs, match):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous render")
    kwargs = dict(dict(positions=skeleton(0.5), parents=PARENTS), **kwargs)
    if "audio_path" in kwargs:
        kwargs["audio_path"] = tmp_path / kwargs["audio_path"]
    with pytest.raises(MotionlabError, match=match):
        render_video(kwargs.pop("positions"), out, FPS, **kwargs)
    assert out.read_bytes() == b"previous render"
    assert leftovers(tmp_path) == []


def test_ffmpeg_failure_is_reported_and_cleaned(tmp_path):
    """A file that exists but is not audio: ffmpeg itself fails; its stderr is in the message."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 100)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous render")
    with pytest.raises(MotionlabError, match="bad.wav") as e:
        render_video(skeleton(0.5), out, FPS, parents=PARENTS, audio_path=bad)
    assert "exit code" in str(e.value)
    assert out.read_bytes() == b"previous render"
    assert leftovers(tmp_path) == []
