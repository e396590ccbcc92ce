"""Video rendering: frame count, durations with muxed audio, 2D keypoints, and atomic failure behaviour."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from motionlab.inference.render import probe_duration, render_video
from motionlab.utils.errors import MotionlabError

FPS = 20
PARENTS = [-1, 0, 1, 0, 3]


def skeleton(seconds: float = 2.0) -> np.ndarray:
    """A 5-joint (hips, spine, head, knee, foot) figure swaying sideways, y up."""
    t = np.arange(int(seconds * FPS)) / FPS
    base = np.array([[0, 1, 0], [0, 1.5, 0], [0, 1.8, 0], [0, 0.5, 0.2], [0, 0, 0.2]], float)
    sway = np.stack([0.3 * np.sin(2 * np.pi * t), 0 * t, 0 * t], -1)
    return base[None] + sway[:, None]


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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positions=np.zeros((10, 5))), r"\(T, J, 3\).*found shape \(10, 5\)"),
        (dict(positions=np.full((10, 5, 3), np.nan)), "NaN"),
        (dict(audio_path="missing.wav"), "missing.wav"),
        (dict(parents=[-1, 0, 9, 0, 3]), "parents"),
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
