"""Beat metrics on the real takes (``$MOTIONLAB_REAL_DATA``): does the ground truth beat its shifted and wrong-audio copies?

Mandatory when MOTIONLAB_REAL_DATA is set (the ``real_data`` fixture fails on a missing folder),
skipped when unset. Takes are found by globbing; every score is computed on a common window
[2 s, duration - 2 s] of the audio clock so the conditions compare like for like (the full table:
``benchmarks/beat_ranking.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionlab.analysis import alignment as A

MARGIN = 2.0


def _w(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return x[(x >= lo) & (x < hi)]


def _scores(beats, onsets, mb, lo, hi) -> dict:
    b, o, k = _w(beats, lo, hi), _w(onsets, lo, hi), _w(mb, lo, hi)
    return {
        "bas_music_beats": A.beat_alignment_over_music_beats(b, k),
        "bas_motion_beats": A.beat_alignment_over_motion_beats(b, k),
        "beat_consistency": A.beat_consistency(o, k),
        "bc_f_score": A.beat_f_score(o, k),
    }


def _conditions(take: dict, others: list[dict], extrema: str) -> dict:
    """gt / shifted ±1 s on [2, dur-2]; other audio vs gt on each other take's common window (means)."""
    mb = A.motion_beats(take["pos"], take["fps"], extrema=extrema)
    lo, hi = MARGIN, take["dur"] - MARGIN
    out = {"gt": _scores(take["beats"], take["onsets"], mb, lo, hi)}
    for d in (-1.0, 1.0):
        out[d] = _scores(take["beats"], take["onsets"], mb + d, lo, hi)
    same, other = [], []
    for o in others:
        h = min(hi, o["dur"] - MARGIN)
        same.append(_scores(take["beats"], take["onsets"], mb, lo, h))
        other.append(_scores(o["beats"], o["onsets"], mb, lo, h))
    out["gt_same_window"] = {k: np.mean([s[k] for s in same]) for k in same[0]}
    out["other"] = {k: np.mean([s[k] for s in other]) for k in other[0]}
    return out


@pytest.fixture(scope="module")
def zeggs(real_data):
    """The paired ZEGGS take (BVH + WAV, FK positions once) and the recorded speech files as other audio."""
    from motionlab.feature_extraction.bvh import load_bvh

    bvhs = sorted(p for p in (real_data / "paired").glob("zeggs*/*.bvh") if p.with_suffix(".wav").is_file())
    assert bvhs, f"{real_data}/paired: expected a ZEGGS take (zeggs*/<take>.bvh with <take>.wav beside it)"
    speech = sorted(p for p in (real_data / "audio/speech").glob("*") if p.is_file())
    assert speech, f"{real_data}/audio/speech: expected at least one recorded speech file as other audio"
    m = load_bvh(bvhs[0])
    pos, fps, wav = m.positions(), 1.0 / m.frame_time, bvhs[0].with_suffix(".wav")
    take = dict(pos=pos, fps=fps, dur=len(pos) / fps, beats=A.audio_beats(wav, duration=len(pos) / fps), onsets=A.audio_onsets(wav, duration=len(pos) / fps))
    others = []
    for p in speech:
        beats, onsets = A.audio_beats(p), A.audio_onsets(p)
        others.append(dict(beats=beats, onsets=onsets, dur=float(max(onsets.max(initial=0), beats.max(initial=0)) + 0.5)))
    return take, others


@pytest.fixture(scope="module")
def dance(real_data):
    """Every Dance with Melody take: world positions (skeletons + center, 25 fps) and beats/onsets of its
    song from start_position/25 s for the motion's duration (decoded once)."""
    root = real_data / "paired/dance_with_melody"
    takes = {}
    for d in sorted(p for p in root.glob("*/") if (p / "skeletons.json").is_file()):
        sk = json.loads((d / "skeletons.json").read_text())
        start = json.loads((d / "config.json").read_text())["start_position"] / 25
        pos = np.asarray(sk["skeletons"], dtype=np.float64) + np.asarray(sk["center"], dtype=np.float64)[:, None]
        dur = len(pos) / 25
        takes[d.name] = dict(
            pos=pos, fps=25.0, dur=dur, path=d / "audio.mp3", start=start,
            beats=A.audio_beats(d / "audio.mp3", start=start, duration=dur),
            onsets=A.audio_onsets(d / "audio.mp3", start=start, duration=dur),
        )
    assert len(takes) >= 3, f"{root}: expected at least three Dance with Melody takes (skeletons.json, config.json, audio.mp3)"
    return takes


# ----------------------------------------------------------------------------------------------
# Speech: ZEGGS
# ----------------------------------------------------------------------------------------------

def test_zeggs_gesture_strokes_rank_the_ground_truth_first(zeggs):
    """Motion beats at speed maxima (gesture strokes): the ground truth with its own speech beats the
    motion shifted by ±1 s and the motion with other recorded speech, for BC, both BAS and the BC
    F-score (measured: BC 0.738 vs 0.621/0.644 shifted, 0.734 vs 0.629 other speech)."""
    take, others = zeggs
    c = _conditions(take, others, "maxima")
    for metric, gt in c["gt"].items():
        assert gt > max(c[-1.0][metric], c[1.0][metric]), (metric, gt, c[-1.0][metric], c[1.0][metric])
        assert c["gt_same_window"][metric] > c["other"][metric], (metric, c["gt_same_window"][metric], c["other"][metric])
    assert c["gt"]["beat_consistency"] - max(c[-1.0]["beat_consistency"], c[1.0]["beat_consistency"]) > 0.05


def test_zeggs_speed_minima_rank_it_last_and_the_shift_curve_peaks_at_zero(zeggs):
    """Why maxima for speech: the body moves fastest around speech onsets, so speed minima avoid them
    and BC ranks the ground truth below a 1-s shift (measured 0.630 vs 0.672/0.662). The maxima's BC
    shift curve over ±2 s peaks within 0.2 s of zero (the take is synced)."""
    take, others = zeggs
    c = _conditions(take, others, "minima")
    assert c["gt"]["beat_consistency"] < min(c[-1.0]["beat_consistency"], c[1.0]["beat_consistency"])
    offsets = np.round(np.arange(-2.0, 2.001, 0.04), 6)
    mb = A.motion_beats(take["pos"], take["fps"], extrema="maxima")
    curve = A.alignment_vs_offset(take["onsets"], mb, offsets, window=(MARGIN, take["dur"] - MARGIN), score="beat_consistency")
    assert abs(offsets[np.nanargmax(curve)]) <= 0.2, offsets[np.nanargmax(curve)]
    assert np.nanmax(curve) - np.nanmedian(curve) > 0.05


# ----------------------------------------------------------------------------------------------
# Dance: Dance with Melody
# ----------------------------------------------------------------------------------------------

def test_dance_beats_are_plausible_and_start_cut_is_consistent(dance):
    for name, t in dance.items():
        tempo = 60 / np.median(np.diff(t["beats"]))
        assert 40 <= tempo <= 240, f"{name}: {tempo:.0f} BPM"
        rate = len(A.motion_beats(t["pos"], 25)) / t["dur"]
        assert 0.3 <= rate <= 4.0, f"{name}: {rate:.2f} kinematic beats per second"
    # onsets of the cut song = onsets of a longer, earlier-starting cut, moved by the difference (interior only)
    name, t = next((n, t) for n, t in dance.items() if t["start"] >= 2.0)
    wider = A.audio_onsets(t["path"], start=t["start"] - 2.0, duration=t["dur"] + 2.0) - 2.0
    inner = _w(t["onsets"], 1.0, t["dur"] - 1.0)
    nearest = np.min(np.abs(inner[:, None] - wider[None]), axis=1)
    assert np.median(nearest) < 0.013 and np.mean(nearest < 0.025) > 0.9, name


@pytest.mark.xfail(strict=True, reason=(
    "Dance with Melody as imported (25 fps from start_position/25) is not beat-synchronous: the feet's step "
    "periodicity runs 0.7-1.5 % faster than half the song's beat rate in every take with a clear peak, so the "
    "phase drifts by about a beat per minute and every beat score of the ground truth is at chance (within "
    "~0.02 of its shifted and wrong-audio copies; benchmarks/beat_ranking.py). Strict: passes -> fix the data, drop the xfail."))
def test_dance_ground_truth_beats_shifted_and_other_audio(dance):
    names = list(dance)
    rows = [_conditions(dance[n], [dance[o] for o in names if o != n], "minima") for n in names]
    mean = lambda cond, metric: float(np.mean([r[cond][metric] for r in rows]))  # noqa: E731
    for metric in ("bas_music_beats", "bas_motion_beats", "beat_consistency"):
        assert mean("gt", metric) > max(mean(-1.0, metric), mean(1.0, metric)), metric
        assert mean("gt_same_window", metric) > mean("other", metric), metric
