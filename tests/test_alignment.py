"""Audio–motion alignment: kinematic beats, audio beats/onsets, BAS (both kinds), BC and their accumulators."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from motionlab.analysis.alignment import (
    BeatAlignment,
    BeatConsistency,
    alignment_vs_offset,
    audio_beats,
    audio_onsets,
    beat_alignment_over_motion_beats,
    beat_alignment_over_music_beats,
    beat_consistency,
    beat_f_score,
    motion_beats,
)
from motionlab.utils.errors import MotionlabError

SCORES = {
    "bas_music": beat_alignment_over_music_beats,
    "bas_motion": beat_alignment_over_motion_beats,
    "bc": beat_consistency,
    "f_score": beat_f_score,
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
    without_rule = motion_beats(p, fps, smoothing=0.0, min_prominence=0.0, min_interval=0.0)
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
# Robustness: maxima, minimum interval, jitter, F-score, shift curve
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [30, 60])
def test_maxima_sit_between_minima(fps):
    # speed ∝ |cos|: minima every 0.5 s from 0.25 s, maxima every 0.5 s from 0.5 s
    p = _sine_motion(fps, 10, 1.0, 0.25)
    mx = motion_beats(p, fps, extrema="maxima")
    expected = np.arange(0.5, 10 - 2 / fps, 0.5)
    assert len(mx) == len(expected) and np.max(np.abs(mx - expected)) <= 1 / fps + 1e-9
    with pytest.raises(MotionlabError, match="extrema must be one of"):
        motion_beats(p, fps, extrema="peaks")
    with pytest.raises(MotionlabError, match="min_interval"):
        motion_beats(p, fps, min_interval=-0.1)


def test_min_interval_keeps_the_more_prominent_of_close_beats():
    # a point moving along x whose speed dips every 0.2 s, alternately deep (0.8) and shallow (0.3)
    fps = 100
    t = np.arange(800) / fps
    dips = np.arange(0.4, 7.6, 0.2)
    depth = np.where(np.arange(len(dips)) % 2 == 0, 0.8, 0.3)
    speed = 1.0 - (depth[:, None] * np.exp(-((t[None] - dips[:, None]) ** 2) / (2 * 0.03 ** 2))).sum(0)
    p = np.zeros((len(t), 1, 3))
    p[:, 0, 0] = np.cumsum(speed) / fps
    free = motion_beats(p, fps, smoothing=0.0, min_prominence=0.0, min_interval=0.0)
    spaced = motion_beats(p, fps, smoothing=0.0, min_prominence=0.0, min_interval=0.3)
    free, spaced = free[(free > 0.3) & (free < 7.5)], spaced[(spaced > 0.3) & (spaced < 7.5)]  # float ripple where the speed is flat
    assert len(free) == len(dips) and np.max(np.abs(free - dips)) <= 1 / fps + 1e-9
    assert len(spaced) == len(dips[::2]) and np.max(np.abs(spaced - dips[::2])) <= 1 / fps + 1e-9  # the deep ones
    # EMAGE's ±7 frames at 30 fps is the default: minima every 0.2 s at 30 fps are thinned
    fast = _sine_motion(30, 10, 0.4, 0.1)
    every, default = motion_beats(fast, 30, smoothing=0.0, min_interval=0.0), motion_beats(fast, 30, smoothing=0.0)
    assert np.min(np.diff(every)) < 7 / 30 and np.min(np.diff(default)) >= 7 / 30 - 1e-9 and len(default) < len(every)


def test_jitter_does_not_raise_the_score():
    """Frame jitter (noise 0.08 on positions of amplitude 1–2) on a sine motion: raw minima (the papers'
    argrelextrema) triple and the one-sided BC of a 0.15-s-late motion climbs towards the aligned
    motion's; the F-score gains less, and the default detector (smoothing, prominence, interval)
    finds the same beats with or without jitter, so no score rises."""
    fps, seconds = 30, 20
    beats = np.arange(0.25, seconds, 0.5)[1:-1]
    clean = _sine_motion(fps, seconds, 1.0, 0.25)
    late = _sine_motion(fps, seconds, 1.0, 0.25 + 0.15)
    noise = lambda p, seed: p + np.random.default_rng(seed).normal(0, 0.08, p.shape)  # noqa: E731
    raw = dict(smoothing=0.0, min_prominence=0.0, min_interval=0.0)
    assert len(motion_beats(noise(clean, 0), fps, **raw)) > 2 * len(motion_beats(clean, fps, **raw))
    mb_late, mb_late_jitter = motion_beats(late, fps, **raw), motion_beats(noise(late, 1), fps, **raw)
    for sigma in (0.3, 0.1):
        bc_gain = beat_consistency(beats, mb_late_jitter, sigma) - beat_consistency(beats, mb_late, sigma)
        f_gain = beat_f_score(beats, mb_late_jitter, sigma) - beat_f_score(beats, mb_late, sigma)
        assert bc_gain > 0.05 and f_gain < 0.7 * bc_gain, (sigma, bc_gain, f_gain)
    # the aligned motion with raw jitter: BC stays ~1, the F-score pays for the extra beats
    mb_jitter = motion_beats(noise(clean, 0), fps, **raw)
    assert beat_consistency(beats, mb_jitter, 0.1) > 0.95 and beat_f_score(beats, mb_jitter, 0.1) < 0.8
    # the default detector: jitter changes no beat count and raises no score
    for motion, seed in ((clean, 0), (late, 1)):
        d_clean, d_jitter = motion_beats(motion, fps), motion_beats(noise(motion, seed), fps)
        inner = lambda b: b[(b > 0.5) & (b < seconds - 0.5)]  # noqa: E731  (an end frame may flip)
        assert len(inner(d_jitter)) == len(inner(d_clean))
        for score in SCORES.values():
            assert score(beats, d_jitter) <= score(beats, d_clean) + 0.02


def test_f_score_hand_computed_and_symmetric():
    g = lambda d, s: math.exp(-d * d / (2 * s * s))  # noqa: E731
    audio, motion = [1.0, 2.0, 3.0], [1.1, 2.5]
    r = (g(0.1, 0.3) + 2 * g(0.5, 0.3)) / 3
    p = (g(0.1, 0.3) + g(0.5, 0.3)) / 2
    assert beat_f_score(audio, motion) == pytest.approx(2 * r * p / (r + p))
    assert beat_f_score(audio, motion, sigma=0.1) == pytest.approx(beat_f_score(motion, audio, sigma=0.1))
    assert beat_f_score(audio, []) == 0.0
    assert beat_f_score(audio, audio) == 1.0
    with pytest.raises(MotionlabError, match="no audio_times"):
        beat_f_score([], [1.0])
    # spamming beats: recall 1, precision small
    spam = np.arange(0, 4, 0.05)
    assert beat_consistency(audio, spam, sigma=0.1) == pytest.approx(1.0, abs=1e-3)
    assert beat_f_score(audio, spam, sigma=0.1) < 0.5


def test_f_score_accumulators():
    seqs = [([1.0, 2.0, 3.0], [1.1, 2.5]), ([0.5, 1.5], [0.5, 0.9, 1.6, 3.0])]
    bc = BeatConsistency(f_score=True)
    ba = BeatAlignment("f_score", sigma=0.1)
    for a, m in seqs:
        bc.update(a, m)
        ba.update(torch.tensor(a), m)
    bc.update([], [1.0])  # no onset: skipped, as the one-sided BC
    assert float(bc.compute()) == pytest.approx(np.mean([beat_f_score(a, m) for a, m in seqs]))
    assert float(ba.compute()) == pytest.approx(np.mean([beat_f_score(a, m, sigma=0.1) for a, m in seqs]))
    assert int(bc.skipped) == 1


def test_alignment_vs_offset_peaks_at_the_true_lag():
    fps, seconds, lag = 60, 20, 0.3  # the motion plays 0.3 s early: its minima sit 0.3 s before the beats
    beats = np.arange(0.1, seconds, 0.7)
    mb = motion_beats(_sine_motion(fps, seconds, 1.4, 0.1 - lag), fps)
    offsets = np.round(np.arange(-0.05, 0.61, 0.05), 10)  # within one beat period (0.7 s): a single peak
    for score in ("bas_music_beats", "bas_motion_beats", "beat_consistency", "beat_f_score"):
        curve = alignment_vs_offset(beats, mb, offsets, window=(1.0, seconds - 1.0), score=score)
        assert curve.shape == offsets.shape and np.isfinite(curve).all()
        assert offsets[np.argmax(curve)] == pytest.approx(lag), score
        assert curve.max() == pytest.approx(1.0, abs=1e-9)
    # a window with no audio event: NaN for the scores averaged over audio events
    assert np.isnan(alignment_vs_offset(beats, mb, [0.0], window=(0.2, 0.6))).all()
    with pytest.raises(MotionlabError, match="score must be one of"):
        alignment_vs_offset(beats, mb, [0.0], window=(0, 5), score="bc")
    with pytest.raises(MotionlabError, match="lo < hi"):
        alignment_vs_offset(beats, mb, [0.0], window=(5, 1))
