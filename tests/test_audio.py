"""Audio decoding and frame-exact audio features (synthetic signals + the real files in MOTIONLAB_REAL_DATA)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from motionlab.datafolder import DataFolder
from motionlab.feature_extraction.audio import (
    FEATURES,
    AudioFeatureSettings,
    extract_audio_features,
    extract_audio_file,
    feature_name,
    load_audio,
)
from motionlab.utils.errors import MotionlabError

ZEGGS_WAV = "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.wav"


@pytest.fixture(scope="module")
def click_track():
    sr = 22050
    times = np.arange(0.5, 10.0, 0.5)
    librosa = pytest.importorskip("librosa")
    y = librosa.clicks(times=times, sr=sr, length=10 * sr).astype(np.float32)
    return y, sr, times


def _peaks(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest local maxima."""
    i = np.nonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]))[0] + 1
    return np.sort(i[np.argsort(x[i])[::-1][:k]])


# ---------------------------------------------------------------- real data


def test_every_real_audio_file_decodes(real_data):
    files = sorted(p for ext in ("*.wav", "*.ogg", "*.mp3") for p in real_data.rglob(ext))
    assert len(files) >= 10, f"expected the real audio files under {real_data}, found {len(files)}"
    for f in files:
        y, sr = load_audio(f)
        assert y.dtype == np.float32 and y.ndim == 1, f
        assert len(y) > sr, f"{f}: decoded only {len(y)} samples"
        assert np.isfinite(y).all() and np.abs(y).max() > 0, f


def test_zeggs_frame_count_every_fps(real_data):
    wav = real_data / ZEGGS_WAV
    assert wav.is_file(), wav
    y, sr = load_audio(wav)
    assert sr == 16000 and abs(len(y) / sr - 2065 / 30) < 1e-3
    for fps in (15, 20, 25, 30, 60):
        s = AudioFeatureSettings(features=["onset", "rms"], fps=fps, sr=16000)
        X, cols = extract_audio_features(y, sr, s)
        assert X.shape == (round(2065 / 30 * fps), 2), fps
        assert cols == ["onset", "rms"]
    # with resampling (16k -> 22.05k) the count still comes from the original duration
    X, _ = extract_audio_file(wav, AudioFeatureSettings(features=["rms"], fps=15))
    assert X.shape[0] == round(2065 / 30 * 15)


def test_zeggs_all_features_20fps(real_data, tmp_path):
    s = AudioFeatureSettings(features=list(FEATURES), fps=20)
    X, cols = extract_audio_file(real_data / ZEGGS_WAV, s)
    assert X.shape == (round(2065 / 30 * 20), 80 + 80 + 20 + 12 + 5)
    assert X.dtype == np.float32 and np.isfinite(X).all()
    assert len(cols) == X.shape[1] == len(set(cols))
    assert X[:, cols.index("beats")].sum() > 10  # speech still gets a pulse
    # speech is not silent: the RMS envelope moves
    rms = X[:, cols.index("rms")]
    assert rms.max() > 5 * np.median(rms[rms > 0].min())
    name = feature_name(s)
    DataFolder(tmp_path).write_meta(name, s.fps, cols, s.to_dict(), kind="audio")
    meta = DataFolder(tmp_path).meta(name)
    assert meta["dims"] == X.shape[1] and meta["columns"] == cols and meta["kind"] == "audio"
    assert AudioFeatureSettings.from_dict(meta["settings"]) == s


# ---------------------------------------------------------------- synthetic


def test_click_track_beats_and_onsets(click_track):
    y, sr, times = click_track
    for fps in (20, 30):
        s = AudioFeatureSettings(features=["onset", "beats", "downbeats", "flux"], fps=fps, sr=sr)
        X, cols = extract_audio_features(y, sr, s)
        assert X.shape == (10 * fps, 4)
        beat_t = np.nonzero(X[:, cols.index("beats")])[0] / fps
        assert len(beat_t) >= len(times) - 2
        # every detected beat lies within one frame of a click
        assert np.abs(beat_t[:, None] - times[None]).min(axis=1).max() <= 1.0 / fps + 1e-9
        down = np.nonzero(X[:, cols.index("downbeats")])[0]
        assert set(down) <= set(np.nonzero(X[:, cols.index("beats")])[0]) and 2 <= len(down) <= len(beat_t) // 4 + 1
        for c in ("onset", "flux"):
            pk = _peaks(X[:, cols.index(c)], len(times)) / fps
            assert np.abs(pk - times).max() <= 1.0 / fps + 1e-9, (c, fps, pk)


def test_shapes_and_columns_per_feature(click_track):
    y, sr, _ = click_track
    y = y[: 3 * sr]
    expect = {"mel": 40, "logmel": 40, "mfcc": 13, "chroma": 12, "onset": 1, "beats": 1, "downbeats": 1, "flux": 1, "rms": 1}
    for f, d in expect.items():
        s = AudioFeatureSettings(features=[f], fps=25, sr=sr, n_mels=40, n_mfcc=13)
        X, cols = extract_audio_features(y, sr, s)
        assert X.shape == (75, d), f
        assert X.dtype == np.float32 and np.isfinite(X).all(), f
        assert cols == ([f] if d == 1 else [f"{f}_{i}" for i in range(d)]), f
    s = AudioFeatureSettings(features=["rms", "mel", "onset"], fps=25, sr=sr, n_mels=40)
    X, cols = extract_audio_features(y, sr, s)
    assert cols[0] == "rms" and cols[1] == "mel_0" and cols[-1] == "onset" and X.shape[1] == 42
    assert (X[:, 1:41] >= 0).all()  # power mel


@pytest.mark.parametrize(
    "sr,fps,seconds",
    [(44100, 30, 2.0171), (16000, 60, 1.9917), (22050, 25, 2.0213), (16000, 29.97, 1.5), (44100, 15, 2.0345)],
)
def test_exact_frame_count_non_integer_hops(sr, fps, seconds):
    n = int(seconds * sr)
    y = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    s = AudioFeatureSettings(features=["mel", "onset", "beats", "rms"], fps=fps, sr=sr, n_mels=32)
    X, _ = extract_audio_features(y, sr, s)
    assert X.shape == (round(n / sr * fps), 32 + 3)
    assert np.isfinite(X).all() and (X[:, -1] > 0).all()  # every frame covered by audio


def test_rms_follows_a_tone_burst():
    """The motion frame at time t describes the audio at t (frame-centre alignment)."""
    sr, fps = 16000, 25
    y = np.zeros(4 * sr, dtype=np.float32)
    y[2 * sr : 3 * sr] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    X, _ = extract_audio_features(y, sr, AudioFeatureSettings(features=["rms"], fps=fps, sr=sr))
    loud = np.nonzero(X[:, 0] > 0.5 * X[:, 0].max())[0]
    assert abs(loud[0] - 2 * fps) <= 1 and abs(loud[-1] - (3 * fps - 1)) <= 1


def test_settings_round_trip_and_name():
    s = AudioFeatureSettings(features=["mel", "onset", "beats"], fps=20.0)
    assert feature_name(s) == "audio_mel80_onset_beats_20fps"
    assert feature_name(AudioFeatureSettings(features=["mfcc", "chroma"], fps=29.97)) == "audio_mfcc20_chroma_29.97fps"
    assert AudioFeatureSettings.from_dict(s.to_dict()) == s
    with pytest.raises(MotionlabError, match="loudness"):
        AudioFeatureSettings(features=["mel", "loudness"], fps=20)
    with pytest.raises(MotionlabError, match="fps"):
        AudioFeatureSettings(features=["mel"], fps=0)


# ---------------------------------------------------------------- bad input


def test_garbage_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"this is not audio at all" * 50)
    with pytest.raises(MotionlabError, match=r"x\.wav.*could not be decoded"):
        load_audio(bad)


def test_zero_length_audio(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(MotionlabError, match=r"empty\.wav.*zero length"):
        load_audio(empty)
    zero_bytes = tmp_path / "nothing.ogg"
    zero_bytes.write_bytes(b"")
    with pytest.raises(MotionlabError, match=r"nothing\.ogg.*zero length"):
        load_audio(zero_bytes)


def test_missing_file(tmp_path):
    with pytest.raises(MotionlabError, match="nope.wav.*not found"):
        load_audio(tmp_path / "nope.wav")


def test_stereo_is_mixed_and_resampled(tmp_path):
    sr = 22050
    t = np.arange(sr) / sr
    st = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), -0.5 * np.sin(2 * np.pi * 220 * t) + 0.2], 1).astype(np.float32)
    path = tmp_path / "st.flac"
    sf.write(path, st, sr)
    y, out_sr = load_audio(path)
    assert out_sr == sr and y.shape == (sr,) and np.allclose(y, 0.1, atol=1e-3)
    y16, sr16 = load_audio(path, sr=16000)
    assert sr16 == 16000 and abs(len(y16) - 16000) <= 1 and y16.dtype == np.float32
