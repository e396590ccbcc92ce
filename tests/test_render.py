"""Skeleton videos: exact frame count, audio muxed and cut to the motion, atomic output."""

import numpy as np
import pytest
import soundfile as sf

from motionlab.inference.render import probe_duration, render_video
from motionlab.utils.errors import MotionlabError

PARENTS = [-1, 0, 1, 0, 3]


def skeleton(T=40, J=5, D=3):
    t = np.arange(T)[:, None] / 20
    pos = np.zeros((T, J, D), np.float32)
    pos[:, :, 1] = np.arange(J)[None] * 0.3
    pos[:, :, 0] = np.sin(2 * np.pi * t + np.arange(J)[None])
    return pos


def sine(path, seconds, sr=16000):
    sf.write(path, 0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr).astype(np.float32), sr)
    return path


def test_video_has_motion_frames_and_audio_cut_to_motion(tmp_path):
    out = render_video(skeleton(), tmp_path / "v.mp4", 20, parents=PARENTS, audio_path=sine(tmp_path / "a.wav", 2.0), size=(160, 160))
    d = probe_duration(out)
    assert d["video_frames"] == 40 and d["video"] == pytest.approx(2.0, abs=0.05) and d["audio"] == pytest.approx(2.0, abs=0.1)


def test_longer_audio_from_an_offset_is_cut(tmp_path):
    out = render_video(skeleton(), tmp_path / "v.mp4", 20, parents=PARENTS, audio_path=sine(tmp_path / "a.wav", 5.0), audio_start=1.0, size=(160, 160))
    d = probe_duration(out)
    assert d["video_frames"] == 40 and d["audio"] == pytest.approx(2.0, abs=0.1)


def test_2d_keypoints_with_edges_and_silent(tmp_path):
    out = render_video(skeleton(D=2), tmp_path / "k.mp4", 25, edges=[(0, 1), (1, 2)], size=(161, 161))
    d = probe_duration(out)
    assert d["video_frames"] == 40 and d["audio"] is None


@pytest.mark.parametrize(
    "positions, kwargs, message",
    [
        (np.zeros((10, 5)), {}, "expected"),
        (np.full((10, 5, 3), np.nan), {}, "NaN"),
        (skeleton(), {"audio_path": "missing.wav"}, "missing.wav"),
    ],
)
def test_bad_input_leaves_existing_output_untouched(tmp_path, positions, kwargs, message):
    out = tmp_path / "v.mp4"
    out.write_bytes(b"previous video")
    with pytest.raises(MotionlabError, match=message):
        render_video(positions, out, 20, parents=PARENTS, size=(96, 96), **kwargs)
    assert out.read_bytes() == b"previous video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # no temporary file left
