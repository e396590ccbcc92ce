"""A small synthetic but learnable paired dataset, so the demo runs with no downloads.

Each sequence has a tempo; its "audio" has a beat indicator, an onset-like envelope decaying after
each beat and mel-like bands modulated by that envelope. Its "motion" (4 joints x 3) swings with
the beat phase and jumps with the onset envelope, so the next frame is predictable from the past
motion and the music. Features are standardised with scalers fit on the train split.

With ``speakers=S > 0`` every sequence belongs to one of S synthetic speakers, each with its own
gesture signature (its own dancer, swing cycles per beat and joint-usage weights) driven by the
same kind of audio; ``speakers.json`` labels the sequences and every split holds every speaker,
so style models and the style classifier have something learnable to separate. Unlike the single
dancer (whose swing follows the beat's parity counted from the start of the take, which no audio
window can know), a speaker's motion is a function of what any short audio window shows: the
position within the current beat (beats fall on whole frames, a whole number of frames apart), the
onset envelope and the take's loudness (the level of its bands), so a feed-forward audio -> motion
model conditioned on the speaker can learn it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.datafolder import SPEAKERS, DataFolder
from motionlab.utils.errors import MotionlabError

AUDIO, MOTION = "demo_audio", "demo_motion"
FPS = 20
#: Swing cycles per beat of speakers 0, 1, 2, 3, ... (cycling): whole cycles, so the swing is a function of the beat phase.
SPEAKER_CYCLES = (1, 2, 1, 2)


def _dancer(rng: np.random.Generator, n_joints: int = 4) -> dict:
    """How the (single) synthetic dancer moves: shared by all sequences, so it generalises."""
    return {
        "amp": rng.uniform(0.5, 1.5, (n_joints, 3)),
        "shift": rng.uniform(0, 2 * np.pi, (n_joints, 3)),
        "kick": rng.uniform(-0.8, 0.8, (n_joints, 3)),
    }


def _speaker(rng: np.random.Generator, index: int, n_joints: int = 4) -> dict:
    """A speaker's signature: its own dancer, swing cycles per beat and joint usage.

    Cycles and the dominant joint cycle with the index, so any two of the first four speakers differ
    in the dominant joint (and 0/2 vs 1/3 in tempo); later speakers differ by their drawn dancer and weights.
    """
    weights = np.full(n_joints, 0.35)
    weights[index % n_joints] = 1.6
    weights = weights * rng.uniform(0.8, 1.2, n_joints)
    return {**_dancer(rng, n_joints), "cycles": SPEAKER_CYCLES[index % len(SPEAKER_CYCLES)], "weights": weights}


def _sequence(rng: np.random.Generator, dancer: dict, seconds: float, fps: int = FPS, n_bands: int = 14):
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    period = 60.0 / rng.uniform(90, 150)
    beat_times = np.arange(rng.uniform(0, period), seconds, period)
    beat_frames = np.round(beat_times * fps).astype(int)
    beat_frames = beat_frames[beat_frames < n]
    beats = np.zeros(n)
    beats[beat_frames] = 1.0
    since = np.full(n, 1e3)
    for b in beat_times:
        d = t - b
        since = np.where((d >= 0) & (d < since), d, since)
    envelope = np.exp(-since / (0.25 * period))
    bands = rng.uniform(0.2, 1.0, n_bands) * envelope[:, None] + 0.05 * rng.standard_normal((n, n_bands))
    audio = np.concatenate([beats[:, None], envelope[:, None], bands], 1)

    phase = (t - beat_times[0]) / period
    amp, shift, kick = dancer["amp"], dancer["shift"], dancer["kick"]
    motion = amp[None] * np.sin(np.pi * phase[:, None, None] + shift[None]) + kick[None] * envelope[:, None, None]
    motion = motion.reshape(n, -1) + 0.01 * rng.standard_normal((n, amp.size))
    return audio.astype(np.float32), motion.astype(np.float32)


def _speaker_sequence(rng: np.random.Generator, speaker: dict, spectrum: np.ndarray, seconds: float, fps: int = FPS):
    """One take of a speaker: audio as the single dancer's, motion a function of what its audio shows.

    Beats are ``period`` whole frames apart (90-150 bpm), so the phase within the current beat is
    visible from the beat/onset channels of any window holding two beats; the take's loudness
    (``level``) scales its bands (one ``spectrum`` shared by every take and speaker, so the audio
    tells neither the speaker nor which take it is) and the swing alike. Motion = level · weights · amp ·
    sin(2π · cycles · phase + shift) + weights · kick · envelope, plus a little noise.
    """
    n = int(round(seconds * fps))
    frames = np.arange(n)
    period = int(round(fps * 60.0 / rng.uniform(90, 150)))
    first = int(rng.integers(0, period))
    since = (frames - first) % period  # frames since the last beat (before the first one: since the beat it would have had)
    beats = (since == 0).astype(np.float64)
    envelope = np.where(frames >= first, np.exp(-since / (0.25 * period)), 0.0)
    level = rng.uniform(0.5, 1.5)
    bands = level * spectrum[None] * envelope[:, None] + 0.05 * rng.standard_normal((n, len(spectrum)))
    audio = np.concatenate([beats[:, None], envelope[:, None], bands], 1)

    phase = since / period
    w = speaker["weights"][:, None]
    swing = level * w * speaker["amp"]
    motion = swing[None] * np.sin(2 * np.pi * speaker["cycles"] * phase[:, None, None] + speaker["shift"][None]) + (w * speaker["kick"])[None] * envelope[:, None, None]
    motion = motion.reshape(n, -1) + 0.01 * rng.standard_normal((n, swing.size))
    return audio.astype(np.float32), motion.astype(np.float32)


def speaker_label(index: int) -> str:
    return f"speaker_{index}"


def _speaker_splits(ids: list[str], speakers: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Sequence i belongs to speaker i % S; each speaker's own sequences are split like the single-dancer data."""
    labels = {q: speaker_label(i % speakers) for i, q in enumerate(ids)}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k in range(speakers):
        own = [q for q in ids if labels[q] == speaker_label(k)]
        n_val = max(1, len(own) // 8)
        splits["train"] += own[: len(own) - 2 * n_val]
        splits["val"] += own[len(own) - 2 * n_val : len(own) - n_val]
        splits["test"] += own[len(own) - n_val :]
    return splits, labels


#: Default (sequences, seconds): the single dancer's; with speakers, more and shorter takes (10 per
#: speaker of 4), so a style model sees many tempos and loudness levels per speaker in the same frames.
DEFAULT_SIZE = (24, 16.0)
DEFAULT_SPEAKERS_SIZE = (40, 8.0)


def make_demo_data(out_dir, n_sequences: int | None = None, seconds: float | None = None, seed: int = 0, speakers: int = 0, keywords: bool = False) -> Path:
    """Write the demo data folder (features, scalers, metadata, train/val/test splits).

    ``speakers=0`` writes the single-dancer data (unchanged, tests depend on its bytes; 24 takes of
    16 s by default); ``speakers=S`` gives sequence i to speaker ``speaker_{i % S}`` with that
    speaker's signature and writes ``speakers.json`` (40 takes of 8 s by default); every split then
    holds every speaker (at least 3 sequences each). ``keywords=True`` writes the words-trigger-gestures
    data of CC-NCE's demo instead (:mod:`motionlab.datasets.demo_keyword_data`; 24 takes of 12 s).
    """
    if keywords:
        from motionlab.datasets.demo_keyword_data import make_keyword_data

        return make_keyword_data(out_dir, 24 if n_sequences is None else int(n_sequences), 12.0 if seconds is None else float(seconds), seed)
    default_n, default_s = DEFAULT_SPEAKERS_SIZE if speakers else DEFAULT_SIZE
    n_sequences = default_n if n_sequences is None else int(n_sequences)
    seconds = default_s if seconds is None else float(seconds)
    if speakers < 0:
        raise MotionlabError(f"make-demo-data --speakers: expected 0 (one dancer) or a positive number of speakers, found {speakers}")
    if speakers and n_sequences < 3 * speakers:
        raise MotionlabError(
            f"make-demo-data --sequences {n_sequences} with --speakers {speakers}: every split needs every speaker, "
            f"so expected at least 3 sequences per speaker ({3 * speakers})"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"demo_{i:02d}" for i in range(n_sequences)]
    if speakers:
        signatures = [_speaker(rng, k) for k in range(speakers)]
        spectrum = rng.uniform(0.2, 1.0, 14)
        seqs = {q: _speaker_sequence(rng, signatures[i % speakers], spectrum, seconds) for i, q in enumerate(ids)}
        splits, labels = _speaker_splits(ids, speakers)
    else:
        dancer = _dancer(rng)
        seqs = {s: _sequence(rng, dancer, seconds) for s in ids}
        n_val = max(1, n_sequences // 8)
        splits = {"train": ids[: n_sequences - 2 * n_val], "val": ids[n_sequences - 2 * n_val : n_sequences - n_val], "test": ids[n_sequences - n_val :]}
    df = DataFolder(out)
    df.write_splits(splits)
    if speakers:
        df.write_speakers(labels)
    else:  # rewriting a multi-speaker folder as single-dancer data: its old labels would lie
        (out / SPEAKERS).unlink(missing_ok=True)
    settings = {"generator": "motionlab.datasets.demo_data", "seed": seed, **({"speakers": speakers} if speakers else {})}
    df.write_feature(AUDIO, {s: seqs[s][0] for s in ids}, fps=FPS, columns=["beat", "onset"] + [f"band_{i}" for i in range(14)], settings=settings, kind="demo", scale=True)
    # The motion is 4 joints x 3 coordinates: drawable and measurable like keypoints (a chain of 3 bones).
    motion_settings = {**settings, "joints": 4, "dims": 3, "edges": [[0, 1], [1, 2], [2, 3]]}
    df.write_feature(MOTION, {s: seqs[s][1] for s in ids}, fps=FPS, columns=[f"j{j}_{c}" for j in range(4) for c in "xyz"], settings=motion_settings, kind="keypoints", scale=True)
    return out
