"""Audio–motion alignment: kinematic beats, audio beats/onsets, BAS (both kinds), BC and their accumulators."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from motionlab.analysis.alignment import (
    BeatAlignment,
    BeatConsistency,
    audio_beats,
    audio_onsets,
    beat_alignment_over_motion_beats,
    beat_alignment_over_music_beats,
    beat_consistency,
    motion_beats,
)
from motionlab.utils.errors import MotionlabError

SCORES = {
    "bas_music": beat_alignment_over_music_beats,
    "bas_motion": beat_alignment_over_motion_beats,
    "bc": beat_consistency,
}


def _sine_motion(fps: float, seconds: float, period: float, first_minimum: float, joints: int = 4) -> np.ndarray:
    """Positions oscillating as sin: the mean joint speed ∝ |cos| has minima every period/2 from ``first_minimum``."""
    t = np.arange(int(round(seconds * fps))) / fps
    x = np.sin(2 * np.pi * (t - first_minimum) / period + np.pi / 2)  # speed ∝ |cos(·)| = 0 at t = first_minimum
    amp = np.linspace(1.0, 2.0, joints)
    p = np.zeros((len(t), joints, 3))
    p[:, :, 0] = x[:, None] * amp
    p[:, :, 1] = 0.3 * x[:, None] * amp
    return p


# ----------------------------------------------------------------------------------------------
# Synthetic known answers
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fps, period, first", [(30, 1.3, 0.31), (60, 1.0, 0.25), (25, 0.9, 0.1)])
def test_motion_beats_finds_speed_minima_within_a_frame(fps, period, first):
    seconds = 10.0
    found = motion_beats(_sine_motion(fps, seconds, period, first), fps)
    expected = np.arange(first, seconds, period / 2)
    expected = expected[(expected > 2 / fps) & (expected < seconds - 2 / fps)]  # an end frame cannot be a local minimum
    assert len(found) == len(expected)
    assert np.max(np.abs(found - expected)) <= 1 / fps + 1e-9


def test_motion_beats_smoothing_is_in_seconds_and_prominence_drops_ripples():
    # same motion at 30 and 120 fps gives the same beats (within a frame at 30 fps)
    a = motion_beats(_sine_motion(30, 8, 1.2, 0.4), 30)
    b = motion_beats(_sine_motion(120, 8, 1.2, 0.4), 120)
    assert len(a) == len(b) and np.max(np.abs(a - b)) <= 1 / 30
    # a held pose with a tiny tremor: the tremor's minima are not beats
    fps = 60
    p = _sine_motion(fps, 6, 2.0, 0.5)
    t = np.arange(len(p)) / fps
    hold = (t > 2.0) & (t < 4.0)
    p[hold] = p[np.argmax(hold)]  # freeze
    p[hold, :, 2] += 1e-3 * np.sin(2 * np.pi * 7 * t[hold])[:, None]
    with_rule = motion_beats(p, fps)
    without_rule = motion_beats(p, fps, smoothing=0.0, min_prominence=0.0)
    assert np.sum((with_rule > 2.1) & (with_rule < 3.9)) <= 1  # the stop itself is one beat, its tremor none
    assert np.sum((without_rule > 2.1) & (without_rule < 3.9)) >= 5


@pytest.mark.parametrize("kind", list(SCORES))
def test_scores_are_one_on_the_beats_and_fall_monotonically_with_shift(kind):
    fps, period = 60, 1.0  # speed minima every 0.5 s from 0.25 s
    beats = np.arange(0.25, 10, 0.5)  # the minima at shift 0 (none within 2 frames of an end)
    values = []
    for shift in (0.0, 0.05, 0.1, 0.2):
        mb = motion_beats(_sine_motion(fps, 10, period, 0.25 + shift), fps)
        values.append(SCORES[kind](beats, mb, sigma=0.1 if kind != "bc" else 0.3))
    assert values[0] == pytest.approx(1.0, abs=1e-12)
    assert all(a > b for a, b in zip(values, values[1:])), values
    # the Gaussian of the shift: exp(-s²/2σ²) (every beat moves by the same s)
    sigma = 0.1 if kind != "bc" else 0.3
    assert values[2] == pytest.approx(math.exp(-0.1 ** 2 / (2 * sigma ** 2)), rel=1e-9)


def test_hand_computed_values():
    music, motion = [1.0, 2.0, 3.0], [1.1, 2.5]
    g = lambda d, s: math.exp(-d * d / (2 * s * s))  # noqa: E731
    # over music beats: 1.0 -> 1.1 (0.1), 2.0 -> 2.5 (0.5), 3.0 -> 2.5 (0.5)
    assert beat_alignment_over_music_beats(music, motion, sigma=0.1) == pytest.approx((g(0.1, 0.1) + 2 * g(0.5, 0.1)) / 3)
    # over motion beats: 1.1 -> 1.0 (0.1), 2.5 -> 2.0 or 3.0 (0.5)
    assert beat_alignment_over_motion_beats(music, motion, sigma=0.1) == pytest.approx((g(0.1, 0.1) + g(0.5, 0.1)) / 2)
    # BC with the default σ = 0.3 s, onsets = the music beats above
    assert beat_consistency(music, motion) == pytest.approx((g(0.1, 0.3) + 2 * g(0.5, 0.3)) / 3)
    # the defaults: σ = 0.05 s for both BAS kinds
    assert beat_alignment_over_music_beats(music, motion) == pytest.approx((g(0.1, 0.05) + 2 * g(0.5, 0.05)) / 3)
    # order of the inputs does not matter, tensors are accepted
    assert beat_alignment_over_music_beats(torch.tensor(music[::-1]), np.array(motion[::-1]), 0.1) == pytest.approx((g(0.1, 0.1) + 2 * g(0.5, 0.1)) / 3)


def test_empty_and_bad_inputs():
    assert beat_alignment_over_music_beats([1.0, 2.0], []) == 0.0  # no motion beat: nothing aligned
    with pytest.raises(MotionlabError, match="no music_beats"):
        beat_alignment_over_music_beats([], [1.0])
    with pytest.raises(MotionlabError, match="no motion_beats"):
        beat_alignment_over_motion_beats([1.0], [])
    with pytest.raises(MotionlabError, match="sigma"):
        beat_consistency([1.0], [1.0], sigma=0)
    with pytest.raises(MotionlabError, match="1-D"):
        beat_consistency(np.zeros((3, 2)), [1.0])
    with pytest.raises(MotionlabError, match=r"positions \(T, J, D\)"):
        motion_beats(np.zeros((10, 3)), 30)
    with pytest.raises(MotionlabError, match="kind"):
        BeatAlignment(kind="frames")


@pytest.mark.parametrize("metric, score", [
    (lambda: BeatAlignment("music", sigma=0.1), lambda a, m: beat_alignment_over_music_beats(a, m, 0.1)),
    (lambda: BeatAlignment("motion", sigma=0.1), lambda a, m: beat_alignment_over_motion_beats(a, m, 0.1)),
    (lambda: BeatConsistency(), beat_consistency),
])
def test_accumulators_average_per_sequence_scores(metric, score):
    rng = np.random.default_rng(0)
    seqs = [(np.sort(rng.uniform(0, n, n)), np.sort(rng.uniform(0, n, n // 2 + 1))) for n in (5, 12, 30)]
    m = metric()
    for a, mb in seqs:
        m.update(a, torch.from_numpy(mb))
    expected = np.mean([score(a, mb) for a, mb in seqs])
    assert float(m.compute()) == pytest.approx(expected)
    # the mean of sequence scores, not of pooled events: differs from the pooled mean here
    pooled = score(np.concatenate([a + 100 * i for i, (a, _) in enumerate(seqs)]), np.concatenate([mb + 100 * i for i, (_, mb) in enumerate(seqs)]))
    assert abs(expected - pooled) > 1e-3
    # two "ranks" merged (the sum-sync of DDP) give the same mean
    first, second = metric(), metric()
    first.update(*seqs[0])
    for a, mb in seqs[1:]:
        second.update(a, mb)
    first.merge_state(second)
    assert float(first.compute()) == pytest.approx(expected)


def test_accumulator_skips_sequences_without_events():
    m = BeatConsistency()
    m.update([], [1.0, 2.0])  # a silent clip: no onset to average over
    with pytest.raises(MotionlabError, match="1 skipped"):
        m.compute()
    m.update([1.0], [1.0])
    assert float(m.compute()) == 1.0 and int(m.skipped) == 1


# ----------------------------------------------------------------------------------------------
# Audio beats and onsets on a synthetic click track
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def click_track(tmp_path_factory):
    """12 s of clicks every 0.5 s (120 BPM) from 0.25 s, 16 kHz mono."""
    sr = 16000
    y = np.zeros(12 * sr, dtype=np.float32)
    clicks = np.arange(0.25, 12, 0.5)
    burst = (np.hanning(160) * np.sin(2 * np.pi * 2000 * np.arange(160) / sr)).astype(np.float32)
    for c in clicks:
        i = int(round(c * sr))
        y[i:i + 160] += burst
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    sf.write(path, y, sr)
    return path, clicks


def test_audio_onsets_and_beats_on_clicks(click_track):
    path, clicks = click_track
    onsets = audio_onsets(path)
    assert len(onsets) == len(clicks)
    assert np.max(np.abs(onsets - clicks)) < 0.035  # one analysis hop (16 ms) plus the onset envelope's lag
    beats = audio_beats(path)
    assert np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.02)
    assert np.max(np.min(np.abs(beats[:, None] - clicks[None]), axis=1)) < 0.035


def test_audio_times_are_relative_to_start(click_track):
    path, clicks = click_track
    cut = audio_onsets(path, start=2.0, duration=6.0)
    expected = clicks[(clicks >= 2.0) & (clicks < 8.0)] - 2.0
    assert len(cut) == len(expected) and np.max(np.abs(cut - expected)) < 0.035
    with pytest.raises(MotionlabError, match="12.000 s long"):
        audio_beats(path, start=10.0, duration=5.0)
    with pytest.raises(MotionlabError, match="not found"):
        audio_onsets(path.with_name("missing.wav"))


# ----------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------

def _window(times: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return times[(times >= lo) & (times < hi)]


def _three_scores(beats, onsets, mb) -> np.ndarray:
    return np.array([beat_alignment_over_music_beats(beats, mb), beat_alignment_over_motion_beats(beats, mb), beat_consistency(onsets, mb)])


@pytest.fixture(scope="module")
def dance_takes(real_data):
    """Every Dance with Melody take: world positions (skeletons + center, 25 fps) and its song's
    beats/onsets from song time start_position/25 for the motion's duration (decoded once here)."""
    root = real_data / "paired/dance_with_melody"
    takes = {}
    for d in sorted(p for p in root.iterdir() if (p / "skeletons.json").is_file()):
        sk = json.loads((d / "skeletons.json").read_text())
        start = json.loads((d / "config.json").read_text())["start_position"] / 25
        pos = np.asarray(sk["skeletons"], dtype=np.float64) + np.asarray(sk["center"], dtype=np.float64)[:, None]
        dur = len(pos) / 25
        takes[d.name] = dict(
            pos=pos, dur=dur, path=d / "audio.mp3", start=start,
            beats=audio_beats(d / "audio.mp3", start=start, duration=dur),
            onsets=audio_onsets(d / "audio.mp3", start=start, duration=dur),
        )
    assert len(takes) >= 2, f"{root}: expected at least two Dance with Melody takes"
    return takes


def test_real_dance_beats_are_plausible_and_start_cut_is_consistent(dance_takes):
    for name, t in dance_takes.items():
        tempo = 60 / np.median(np.diff(t["beats"]))
        assert 40 <= tempo <= 240, f"{name}: {tempo:.0f} BPM"
        rate = len(motion_beats(t["pos"], 25)) / t["dur"]
        assert 0.3 <= rate <= 4.0, f"{name}: {rate:.2f} kinematic beats per second"
    # onsets of the cut song = onsets of a longer, earlier-starting cut, moved by the difference (interior only)
    name, t = next((n, t) for n, t in dance_takes.items() if t["start"] >= 2.0)
    wider = audio_onsets(t["path"], start=t["start"] - 2.0, duration=t["dur"] + 2.0) - 2.0
    inner = _window(t["onsets"], 1.0, t["dur"] - 1.0)
    nearest = np.min(np.abs(inner[:, None] - wider[None]), axis=1)
    assert np.median(nearest) < 0.013 and np.mean(nearest < 0.025) > 0.9, name


def test_real_dance_ground_truth_vs_shifted_and_other_audio(dance_takes):
    """Measured, not assumed: GT vs the motion delayed by 1 s (same audio window [1 s, end)) vs the
    motion paired with every other take's song (common duration). On this data the kinematic beats
    (mean joint speed minima) are not phase-locked to librosa's beats: GT is at the level of other
    takes' audio (see the printed table), so no ranking is asserted; what must hold is that every
    score is a valid probability-like value and the three comparisons are computed on equal footing."""
    names = list(dance_takes)
    rows = []
    for n in names:
        t = dance_takes[n]
        mb = motion_beats(t["pos"], 25)
        gt = _three_scores(t["beats"], t["onsets"], mb)
        delayed = _three_scores(_window(t["beats"], 1.0, t["dur"]), _window(t["onsets"], 1.0, t["dur"]), motion_beats(t["pos"][:-25], 25) + 1.0)
        other = np.mean([
            _three_scores(_window(dance_takes[o]["beats"], 0, d), _window(dance_takes[o]["onsets"], 0, d), _window(mb, 0, d))
            for o in names if o != n for d in [min(t["dur"], dance_takes[o]["dur"])]
        ], axis=0)
        rows.append((gt, delayed, other))
        print(f"{n:11s} BAS(music) BAS(motion) BC  GT {np.round(gt, 3)}  delayed 1 s {np.round(delayed, 3)}  other audio {np.round(other, 3)}")
    r = np.array(rows)
    print(f"{'mean':11s} GT {np.round(r[:, 0].mean(0), 3)}  delayed 1 s {np.round(r[:, 1].mean(0), 3)}  other audio {np.round(r[:, 2].mean(0), 3)}")
    assert np.isfinite(r).all() and (r >= 0).all() and (r <= 1).all()
    assert (r[:, :, 2] > r[:, :, 0]).all()  # BC's σ = 0.3 s is 6x BAS's: always the more lenient score


@pytest.fixture(scope="module")
def zeggs(real_data):
    from motionlab.feature_extraction.bvh import load_bvh

    base = real_data / "paired/zeggs_067_speech_2/067_Speech_2_x_1_0"
    motion = load_bvh(base.with_suffix(".bvh"))
    others = sorted(p for p in (real_data / "audio/speech").iterdir() if p.is_file())
    return dict(
        pos=motion.positions(), fps=1.0 / motion.frame_time, onsets=audio_onsets(base.with_suffix(".wav")),
        others={p.name: audio_onsets(p) for p in others},
    )


def test_real_zeggs_beat_consistency(zeggs):
    """BC of the ZEGGS take with its own speech vs with other recorded speech (LibriSpeech, BEAT2; common
    duration), and vs the motion delayed by 1 s. Measured: GT 0.630 > other speech (mean 0.592), but the
    delayed motion scores 0.662 — BC rewards speed minima near onsets, while in this take speed follows
    loudness (PROVENANCE: RMS-speed correlation peaks at lag 0), so a 1 s shift is not penalised. Only
    the robust ranking (vs the mean over other speech) is asserted."""
    pos, fps, onsets = zeggs["pos"], zeggs["fps"], zeggs["onsets"]
    dur = len(pos) / fps
    mb = motion_beats(pos, fps)
    gt = beat_consistency(onsets, mb)
    n = int(round(fps))
    delayed = beat_consistency(_window(onsets, 1.0, dur), motion_beats(pos[:-n], fps) + 1.0)
    other = {}
    for name, o in zeggs["others"].items():
        d = min(dur, o.max() + 0.5)
        other[name] = beat_consistency(_window(o, 0, d), _window(mb, 0, d))
    print(f"ZEGGS BC: GT {gt:.3f}, delayed 1 s {delayed:.3f}, other speech {({k: round(v, 3) for k, v in other.items()})} mean {np.mean(list(other.values())):.3f}")
    assert 0 < gt < 1 and 0 < delayed < 1
    assert gt > np.mean(list(other.values()))
