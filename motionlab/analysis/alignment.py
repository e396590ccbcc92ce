"""Audio–motion alignment: kinematic beats, audio beats/onsets, beat-alignment scores and their accumulators.

Every time here is in **seconds** on the motion's clock (motion frame ``i`` is at ``i / fps``; the
audio functions return times from ``start``, the song time of motion frame 0). Every ``sigma`` is
in seconds too, never frames, so scores do not change with the frame rate.

Scores (all in [0, 1], higher is better aligned), with ``d(e, B) = min_b |e - b|``:

* :func:`beat_alignment_over_music_beats` — Bailando's BAS (Siyao et al., CVPR 2022):
  ``mean over music beats m of exp(-d(m, motion beats)² / (2σ²))``;
* :func:`beat_alignment_over_motion_beats` — AIST++/FACT's beat alignment (Li et al., ICCV 2021):
  ``mean over motion beats k of exp(-d(k, music beats)² / (2σ²))``;
* :func:`beat_consistency` — EMAGE's BC (Liu et al., CVPR 2024; BEAT's "BeatAlign", ECCV 2022):
  ``mean over audio onsets o of exp(-d(o, motion beats)² / (2σ²))`` with σ = 0.3 s.
* :func:`beat_f_score` — both directions at once: the harmonic mean of the hit rate over audio
  events (recall, the two scores above) and over motion beats (precision, AIST++/FACT's direction).
  A one-sided score over audio events rewards *more* motion beats (jitter makes many speed
  extrema, and every onset finds one nearby: a jittery generated motion scored BC 0.82 against the
  real motion's 0.63); precision pays that back, so spamming beats does not help.

The accumulators (:class:`BeatAlignment`, :class:`BeatConsistency`) keep the sum of per-sequence
scores and the number of sequences (``dist_reduce_fx="sum"``), so ``compute()`` is the mean of the
per-sequence scores — how the papers report them — and DDP ranks combine exactly.

What the real data says (``benchmarks/beat_ranking.py``; ground truth with its own audio against the
same motion shifted by ±0.5/1/2 s and against other takes' audio, scored on a common window):

* Speech (ZEGGS 067, synced: audio onset strength vs body speed correlates r = 0.47 at lag 0): the
  speed is *high* around speech onsets (onset-triggered mean speed +0.4 σ at lag 0), so speed
  **minima** avoid onsets and every score ranked the ground truth *below* its shifted copies (BC
  0.630 vs 0.662–0.723). Speed **maxima** — gesture strokes — rank it first for every score and every
  detector setting tried (BC 0.738 vs ≤ 0.660; Pouw & Dixon, Cognitive Science 2019, and Pouw et al.,
  J. Exp. Psychol. Gen. 2020, likewise time gesture–speech synchrony by peak velocity/impulse against
  amplitude-envelope peaks). Hence ``motion_beats(extrema="maxima")`` for co-speech gesture.
* Dance (Dance with Melody, 10 takes): every formulation tried (minima/maxima, whole body, root-relative,
  upper body, feet, per joint as EMAGE, prominence 0.05 mean … 0.5 σ, min interval 0 or 0.23 s, F-score)
  scores the ground truth within ~0.02 of the shifted and other-audio copies: chance, and the shift
  curves are flat. The feet's step periodicity runs 0.7–1.5 % faster than half the song's beat rate
  in every take with a clear spectral peak (C_2, R_2, R_3, R_8), and phase locking of the feet's
  speed to the beat grid rises up to ~5x when the motion clock is stretched by ~1.01: the phase
  drifts by about a beat per minute, so the take, imported at 25 fps from ``start_position``, is not
  beat-synchronous with its song and no beat score can rank it (an issue of the data's clock, not of
  the metric; ``tests/test_real_alignment.py`` keeps that ranking as a strict xfail).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torchmetrics import Metric

from motionlab.utils.errors import MotionlabError

__all__ = [
    "kinematic_speed", "motion_beats", "audio_beats", "audio_onsets", "beat_alignment_over_music_beats",
    "beat_alignment_over_motion_beats", "beat_consistency", "beat_f_score", "alignment_vs_offset",
    "BeatAlignment", "BeatConsistency", "BAS_SIGMA", "BC_SIGMA", "MOTION_BEAT_SMOOTHING",
    "MOTION_BEAT_PROMINENCE", "MOTION_BEAT_MIN_INTERVAL", "EXTREMA",
]

# σ of both beat-alignment scores: 3 frames at 60 fps (AIST++/FACT ``alignment_score(sigma=3)``,
# Bailando ``BA``: exp(-d²/2/9)), i.e. 0.05 s.
BAS_SIGMA = 3 / 60
# σ of EMAGE's beat consistency: ``metric.alignment(0.3, ...)``, already in seconds (EMAGE / BEAT code).
BC_SIGMA = 0.3
# Gaussian smoothing of the speed curve: Bailando's ``gaussian_filter(kinetic_vel, 5)`` at 60 fps = 5/60 s.
MOTION_BEAT_SMOOTHING = 5 / 60
# Minimum prominence of a kinematic beat, as a fraction of the sequence's mean smoothed speed.
MOTION_BEAT_PROMINENCE = 0.05
# Minimum time between two kinematic beats: EMAGE/BEAT keep a speed minimum only when it is the lowest
# within ±7 frames at 30 fps (``argrelextrema(vel, np.less, order=7)``), i.e. beats at least 7/30 s apart.
MOTION_BEAT_MIN_INTERVAL = 7 / 30
# Which speed extrema are beats: minima (dance: AIST++, Bailando, EMAGE) or maxima (gesture strokes).
EXTREMA = ("minima", "maxima")

_F64 = torch.float64


# ----------------------------------------------------------------------------------------------
# Motion beats
# ----------------------------------------------------------------------------------------------

def _check_fps(fps: float, who: str) -> float:
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise MotionlabError(f"{who}: fps must be a finite number > 0, got {fps!r}")
    return float(fps)


def _check_positions(positions, who: str) -> np.ndarray:
    p = np.asarray(positions.detach().cpu() if isinstance(positions, torch.Tensor) else positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] not in (2, 3):
        raise MotionlabError(f"{who}: expected positions (T, J, D) with D = 2 or 3, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise MotionlabError(f"{who}: positions contain NaN/inf (first at frame {int(np.argwhere(~np.isfinite(p))[0][0])})")
    return p


def kinematic_speed(positions, fps: float, joints=None) -> np.ndarray:
    """Mean joint speed per frame, ``(T,)`` in position units/s: ``mean_j ||dp_j/dt||``.

    Central differences (``np.gradient``; one-sided at both ends), so value ``i`` belongs to frame
    ``i`` at time ``i / fps``. ``joints`` (indices) restricts the mean, e.g. to the upper body.
    """
    fps = _check_fps(fps, "kinematic_speed")
    p = _check_positions(positions, "kinematic_speed")
    if joints is not None:
        idx = np.asarray(joints, dtype=int).reshape(-1)
        if idx.size == 0 or idx.min() < -p.shape[1] or idx.max() >= p.shape[1]:
            raise MotionlabError(f"kinematic_speed: joints must be indices into {p.shape[1]} joints, got {list(idx)}")
        p = p[:, idx]
    if p.shape[0] < 2:
        raise MotionlabError(f"kinematic_speed: need at least 2 frames for a speed, got {p.shape[0]}")
    return np.linalg.norm(np.gradient(p, axis=0), axis=-1).mean(axis=1) * fps


def motion_beats(positions, fps: float, *, smoothing: float = MOTION_BEAT_SMOOTHING, min_prominence: float = MOTION_BEAT_PROMINENCE, min_interval: float = MOTION_BEAT_MIN_INTERVAL, extrema: str = "minima", joints=None) -> np.ndarray:
    """Kinematic beats: times (s) of the local minima (or maxima) of the mean joint speed.

    1. speed ``s`` = :func:`kinematic_speed` (mean over ``joints``, all by default), units/s;
    2. smoothed with a Gaussian of standard deviation ``smoothing`` seconds (default 5/60 s =
       Bailando's ``gaussian_filter(·, 5)`` at 60 fps; 0 disables) — this also removes frame jitter;
    3. every strict local extremum of the smoothed speed whose prominence (``scipy.signal.find_peaks``:
       how far the speed rises (minima) or falls (maxima) on both sides before a more extreme one)
       is at least ``min_prominence × mean(s)`` — default 0.05, a relative rule that keeps the units
       out and drops the ripples of a held pose, which the papers' plain ``argrelextrema`` counts;
    4. at most one beat per ``min_interval`` seconds (default 7/30 s, EMAGE's ``order=7`` at 30 fps;
       the more prominent extremum wins; 0 disables), so jitter cannot multiply beats.

    ``extrema="minima"`` (default): the moment motion stops or turns — the dance convention of
    AIST++/FACT, Bailando and EMAGE's BC. ``extrema="maxima"``: peak speed, the stroke of a gesture;
    use it for speech, where the body moves fastest around speech onsets (see the module notes:
    on the real ZEGGS take minima rank the ground truth below a 1-s shift, maxima above).

    Returns sorted times ``frame / fps`` (float64); empty when the speed has no such extremum.
    """
    fps = _check_fps(fps, "motion_beats")
    if extrema not in EXTREMA:
        raise MotionlabError(f"motion_beats: extrema must be one of {EXTREMA}, got {extrema!r}")
    for name, v in (("smoothing", smoothing), ("min_prominence", min_prominence), ("min_interval", min_interval)):
        if not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
            raise MotionlabError(f"motion_beats: {name} must be a finite number >= 0 (smoothing and min_interval in s), got {v!r}")
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    s = kinematic_speed(positions, fps, joints)
    if smoothing > 0:
        s = gaussian_filter1d(s, smoothing * fps, mode="nearest")
    scale = float(s.mean())
    if scale <= 0:
        return np.zeros(0)
    distance = int(round(min_interval * fps))
    frames, _ = find_peaks(
        -s if extrema == "minima" else s,
        prominence=min_prominence * scale if min_prominence > 0 else None,
        distance=distance if distance >= 2 else None,
    )
    return frames.astype(np.float64) / fps


# ----------------------------------------------------------------------------------------------
# Audio beats and onsets
# ----------------------------------------------------------------------------------------------

#: A segment may end this much (s) past the audio: motion frame counts are rounded, so the last frame can.
AUDIO_END_TOLERANCE = 0.1


def _hop(sr: int) -> int:
    """Power of two nearest to 11.6 ms (512 at 44.1/48 kHz, 256 at 16/22.05 kHz): ~86 analysis frames/s."""
    return int(2 ** round(math.log2(sr * 512 / 44100)))


def _audio_segment(path, start: float, duration: float | None, who: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples of ``[start, start + duration)`` s, decoded at the file's own rate."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise MotionlabError(f"{who}: {path}: audio file not found")
    if not (math.isfinite(start) and start >= 0) or (duration is not None and not (math.isfinite(duration) and duration > 0)):
        raise MotionlabError(f"{who}: {path}: expected start >= 0 and duration > 0 (s), got start={start}, duration={duration}")
    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        first = int(round(start * sr))
        n = -1 if duration is None else int(round(duration * sr))
        if n > 0 and info.frames < first + n <= info.frames + int(AUDIO_END_TOLERANCE * sr):
            n = info.frames - first  # motion frames rounded past the audio's end (prepare's round(duration x fps))
        if first >= info.frames or (n > 0 and first + n > info.frames):
            end = "the end" if duration is None else f"{start + duration:.3f} s"
            raise MotionlabError(f"{who}: {path}: audio is {info.frames / sr:.3f} s long, the segment asked for runs from {start:.3f} s to {end}")
        y, _ = sf.read(str(path), start=first, frames=n, dtype="float32", always_2d=True)
    except MotionlabError:
        raise
    except Exception as e:  # libsndfile raises its own error types for unreadable files
        raise MotionlabError(f"{who}: {path}: cannot decode audio ({e})") from None
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if y.size < _hop(sr) * 4:
        raise MotionlabError(f"{who}: {path}: segment of {y.size} samples at {sr} Hz is too short for beat/onset detection")
    return np.ascontiguousarray(y), sr


def audio_beats(path, *, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Musical beat times (s from ``start``): ``librosa.beat.beat_track`` on ``[start, start + duration)``.

    The segment is decoded from the file at its own sample rate (channels averaged, no resampling),
    hop ≈ 11.6 ms (512 samples at 44.1 kHz). ``duration=None`` runs to the end of the file. The
    tracker runs on the same onset-strength envelope as :func:`audio_onsets` (mean over mel bands):
    ``beat_track(y=...)`` builds a median-aggregated envelope that placed beats ~50 ms after the
    clicks of a click track (librosa 0.11).
    """
    import librosa

    y, sr = _audio_segment(path, start, duration, "audio_beats")
    hop = _hop(sr)
    envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    _, times = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=hop, units="time")
    return np.asarray(times, dtype=np.float64)


def audio_onsets(path, *, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Onset times (s from ``start``): ``librosa.onset.onset_detect`` on ``[start, start + duration)``.

    Same decoding as :func:`audio_beats`; librosa's default peak picking (as EMAGE/BEAT use it).
    """
    import librosa

    y, sr = _audio_segment(path, start, duration, "audio_onsets")
    times = librosa.onset.onset_detect(y=y, sr=sr, hop_length=_hop(sr), units="time")
    return np.asarray(times, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------

def _times(x, name: str, who: str) -> np.ndarray:
    """A sorted float64 vector of times (s) from a list, numpy array or tensor."""
    try:
        t = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionlabError(f"{who}: {name} must be a 1-D array of times in seconds, got {type(x).__name__}") from None
    if t.ndim > 1 and sum(n > 1 for n in t.shape) > 1:
        raise MotionlabError(f"{who}: {name} must be a 1-D array of times in seconds, got shape {t.shape}")
    t = t.reshape(-1)
    if not np.isfinite(t).all():
        raise MotionlabError(f"{who}: {name} contains NaN/inf")
    return np.sort(t)


def _check_sigma(sigma: float, who: str) -> float:
    if not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise MotionlabError(f"{who}: sigma must be a number of seconds > 0, got {sigma!r}")
    return float(sigma)


def _hit_scores(events: np.ndarray, targets: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-d²/(2σ²))`` per event, d = distance to the nearest target; 0 for every event when there is no target."""
    if targets.size == 0:
        return np.zeros(events.size)
    i = np.clip(np.searchsorted(targets, events), 1, max(targets.size - 1, 1))
    d = np.abs(events - targets[i - 1])
    if targets.size > 1:
        d = np.minimum(d, np.abs(targets[i] - events))
    return np.exp(-(d ** 2) / (2 * sigma ** 2))


def _mean_hit(events, targets, sigma: float, names: tuple[str, str], who: str) -> float:
    sigma = _check_sigma(sigma, who)
    e, t = _times(events, names[0], who), _times(targets, names[1], who)
    if e.size == 0:
        raise MotionlabError(f"{who}: no {names[0]} to average over (got an empty array)")
    return float(_hit_scores(e, t, sigma).mean())


def beat_alignment_over_music_beats(music_beats, motion_beats, sigma: float = BAS_SIGMA) -> float:
    """Bailando's beat align score (BAS): ``1/|M| Σ_m exp(-min_k |m - k|² / (2σ²))`` over music beats m.

    ``motion_beats`` k from :func:`motion_beats`, all times in s; σ in s, default 0.05 s (Bailando's
    σ² = 9 frames² at 60 fps). 0 when there is no motion beat; an error when there is no music beat.
    """
    return _mean_hit(music_beats, motion_beats, sigma, ("music_beats", "motion_beats"), "beat_alignment_over_music_beats")


def beat_alignment_over_motion_beats(music_beats, motion_beats, sigma: float = BAS_SIGMA) -> float:
    """AIST++/FACT's beat alignment: ``1/|K| Σ_k exp(-min_m |k - m|² / (2σ²))`` over motion beats k.

    Times in s; σ in s, default 0.05 s (FACT ``alignment_score(sigma=3)`` frames at 60 fps). 0 when
    there is no music beat; an error when there is no motion beat.
    """
    return _mean_hit(motion_beats, music_beats, sigma, ("motion_beats", "music_beats"), "beat_alignment_over_motion_beats")


def beat_consistency(audio_onsets, motion_beats, sigma: float = BC_SIGMA) -> float:
    """EMAGE's beat consistency (BC): ``1/|O| Σ_o exp(-min_k |o - k|² / (2σ²))`` over audio onsets o.

    ``motion_beats`` k are speed minima (:func:`motion_beats`), times in s. σ = 0.3 s by default:
    EMAGE/BEAT's ``metric.alignment(0.3, 7, ...)`` (PantoMatrix), in seconds. EMAGE takes minima
    per upper-body joint and averages the joints' scores; pass ``joints=`` to :func:`motion_beats`
    to restrict the speed to the upper body.
    """
    return _mean_hit(audio_onsets, motion_beats, sigma, ("audio_onsets", "motion_beats"), "beat_consistency")


def _f_score(audio: np.ndarray, motion: np.ndarray, sigma: float) -> float:
    """Harmonic mean of recall (hits over audio events) and precision (hits over motion beats); 0 if either side is empty."""
    if audio.size == 0 or motion.size == 0:
        return 0.0
    recall, precision = float(_hit_scores(audio, motion, sigma).mean()), float(_hit_scores(motion, audio, sigma).mean())
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def beat_f_score(audio_times, motion_beats, sigma: float = BC_SIGMA) -> float:
    """Beat F-score: ``2 R P / (R + P)`` with ``R`` = mean hit over audio events (BC / Bailando's BAS)
    and ``P`` = mean hit over motion beats (AIST++/FACT's BAS), hit = ``exp(-d²/(2σ²))``, d in s.

    1 when both sets coincide; spamming motion beats raises R but lowers P, so it does not pay (a
    precision-and-recall view of beat matching, as in beat-tracking evaluation, e.g. mir_eval's
    F-measure, here with the papers' Gaussian hit instead of a hard window). σ in s: 0.3 (BC) for
    audio onsets, :data:`BAS_SIGMA` for music beats. 0 when either side has no event.
    """
    who = "beat_f_score"
    sigma = _check_sigma(sigma, who)
    a, m = _times(audio_times, "audio_times", who), _times(motion_beats, "motion_beats", who)
    if a.size == 0:
        raise MotionlabError(f"{who}: no audio_times to score against (got an empty array)")
    return _f_score(a, m, sigma)


SCORES = {
    "bas_music_beats": beat_alignment_over_music_beats,
    "bas_motion_beats": beat_alignment_over_motion_beats,
    "beat_consistency": beat_consistency,
    "beat_f_score": beat_f_score,
}


def alignment_vs_offset(audio_times, motion_beats, offsets, *, window: tuple[float, float], score: str = "beat_consistency", sigma: float | None = None) -> np.ndarray:
    """Score of the motion moved by each offset (s) against fixed audio events: the shift curve.

    For offset δ the motion beats become ``k + δ`` (δ > 0: the motion plays late). Audio events and
    shifted motion beats are both restricted to ``window = (lo, hi)`` (s, on the audio's clock), the
    same for every δ, so the values are comparable; choose it inside the overlap of all shifts (e.g.
    ``(max δ, duration + min δ)``) and give audio events from a segment wide enough to cover it.
    For correctly synced data the curve should peak near δ = 0. ``score`` is a key of
    :data:`SCORES`; ``sigma`` defaults to that score's own. Returns float64 ``(len(offsets),)``;
    an offset that leaves no event to average over scores NaN.
    """
    who = "alignment_vs_offset"
    if score not in SCORES:
        raise MotionlabError(f"{who}: score must be one of {sorted(SCORES)}, got {score!r}")
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        raise MotionlabError(f"{who}: window must be (lo, hi) in seconds, got {window!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise MotionlabError(f"{who}: window must be (lo, hi) with lo < hi in seconds, got {window!r}")
    a, m = _times(audio_times, "audio_times", who), _times(motion_beats, "motion_beats", who)
    try:
        d = np.asarray(offsets, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MotionlabError(f"{who}: offsets must be numbers of seconds, got {type(offsets).__name__}") from None
    if d.size == 0 or not np.isfinite(d).all():
        raise MotionlabError(f"{who}: offsets must be a non-empty array of finite seconds, got {offsets!r}")
    kwargs = {} if sigma is None else {"sigma": sigma}
    a = a[(a >= lo) & (a < hi)]
    out = np.full(d.size, np.nan)
    for i, delta in enumerate(d):
        k = m + delta
        k = k[(k >= lo) & (k < hi)]
        events = k if score == "bas_motion_beats" else a
        if events.size:
            out[i] = SCORES[score](a, k, **kwargs)
    return out


# ----------------------------------------------------------------------------------------------
# Accumulators
# ----------------------------------------------------------------------------------------------

class _SequenceMean(Metric):
    """Mean over sequences of a per-sequence score; ``update(audio_times, motion_times)`` adds one sequence.

    States: ``total`` (sum of scores) and ``sequences`` (count), both summed across DDP ranks. A
    sequence with no event to average over (e.g. a silent clip without onsets) is not counted;
    ``skipped`` says how many were left out.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, sigma: float, **kwargs):
        super().__init__(**kwargs)
        self.sigma = _check_sigma(sigma, type(self).__name__)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("sequences", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("skipped", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def _events_and_targets(self, audio_times: np.ndarray, motion_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    f_score = False  # True: a sequence scores beat_f_score (both directions); skipped only without audio events

    def update(self, audio_times, motion_times) -> None:
        who = f"{type(self).__name__}.update"
        a, m = _times(audio_times, "audio_times", who), _times(motion_times, "motion_times", who)
        if self.f_score:
            if a.size == 0:
                self.skipped += 1
                return
            self.total += _f_score(a, m, self.sigma)
        else:
            events, targets = self._events_and_targets(a, m)
            if events.size == 0:
                self.skipped += 1
                return
            self.total += float(_hit_scores(events, targets, self.sigma).mean())
        self.sequences += 1

    def compute(self) -> torch.Tensor:
        if float(self.sequences) < 1:
            raise MotionlabError(f"{type(self).__name__}: compute() needs at least one sequence with events from update(), got none ({int(self.skipped)} skipped as empty)")
        return self.total / self.sequences


class BeatAlignment(_SequenceMean):
    """Beat alignment averaged over sequences; ``update(music_beat_times, motion_beat_times)`` (s).

    ``kind="music"``: Bailando's BAS, averaged over music beats (:func:`beat_alignment_over_music_beats`);
    ``kind="motion"``: AIST++/FACT's score, averaged over motion beats (:func:`beat_alignment_over_motion_beats`);
    ``kind="f_score"``: both directions, :func:`beat_f_score` (not gameable by extra motion beats).
    σ in s, default 0.05 s.
    """

    KINDS = ("music", "motion", "f_score")

    def __init__(self, kind: str = "music", sigma: float = BAS_SIGMA, **kwargs):
        if kind not in self.KINDS:
            raise MotionlabError(f"BeatAlignment: kind must be one of {self.KINDS} (what the score averages over), got {kind!r}")
        super().__init__(sigma, **kwargs)
        self.kind = kind
        self.f_score = kind == "f_score"

    def _events_and_targets(self, audio_times, motion_times):
        return (audio_times, motion_times) if self.kind == "music" else (motion_times, audio_times)


class BeatConsistency(_SequenceMean):
    """EMAGE's BC averaged over sequences; ``update(audio_onset_times, motion_beat_times)`` (s); σ default 0.3 s.

    ``f_score=True``: each sequence scores :func:`beat_f_score` of onsets and motion beats instead
    of the one-sided hit rate over onsets, so jitter (many extra motion beats) does not raise it.
    """

    def __init__(self, sigma: float = BC_SIGMA, f_score: bool = False, **kwargs):
        super().__init__(sigma, **kwargs)
        self.f_score = bool(f_score)

    def _events_and_targets(self, audio_times, motion_times):
        return audio_times, motion_times
