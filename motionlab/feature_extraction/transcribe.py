"""Word timings from speech audio, offline: PocketSphinx (its packaged US-English model, no downloads).

``transcribe_words(audio)`` recognises the words and their times; with ``text`` (a known transcript,
e.g. ``<take>.txt`` beside the take) it force-aligns those words instead, which is far more accurate.
Either way each word's span is then trimmed to where the audio is voiced: the aligner tends to give
the silence after a short word to that word (0.2–0.4 s on synthetic speech), and a gesture model
reads a word's span as "being said now".

The result is cached in the data folder (``transcripts/<take>.words.csv`` + ``.json`` with the audio's
hash, the transcript's and the settings), never in the user's source files, and reused while the
audio and settings are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import write_json, write_text

SAMPLE_RATE = 16000  # the packaged acoustic model's rate
FRAME_RATE = 100  # PocketSphinx's frames per second (its default -frate)
#: Voiced = RMS (10 ms frames) above this fraction of the take's 95th-percentile RMS.
VOICED_FRACTION = 0.1
TRANSCRIPTS = "transcripts"
VERSION = 1


def _load_decoder_class():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise MotionlabError("transcribing speech needs PocketSphinx: pip install motionlab[text]") from None
    return Decoder


def _read_speech(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz; MotionlabError naming the file when it cannot be decoded."""
    from motionlab.feature_extraction.audio import load_audio

    y, _ = load_audio(path, SAMPLE_RATE)
    if y.ndim > 1:
        y = y.mean(axis=tuple(range(1, y.ndim)))
    if y.size == 0:
        raise MotionlabError(f"{path}: no audio samples to transcribe")
    return np.asarray(y, dtype=np.float32)


def _voiced(y: np.ndarray) -> np.ndarray:
    """(frames,) bool at FRAME_RATE: frames whose RMS is above VOICED_FRACTION of the 95th percentile."""
    hop = SAMPLE_RATE // FRAME_RATE
    n = len(y) // hop
    rms = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(0)
    level = np.percentile(rms, 95) if n else 0.0
    return rms > VOICED_FRACTION * level if level > 0 else np.zeros(n, bool)


def _trim_to_voice(words: list[tuple[str, float, float]], voiced: np.ndarray) -> list[tuple[str, float, float]]:
    out = []
    for word, start, end in words:
        a, b = int(round(start * FRAME_RATE)), int(round(end * FRAME_RATE))
        on = np.flatnonzero(voiced[a:b])
        if on.size:  # keep the span from its first to its last voiced frame
            start, end = (a + on[0]) / FRAME_RATE, (a + on[-1] + 1) / FRAME_RATE
        out.append((word, round(start, 3), round(end, 3)))
    return out


def transcribe_words(audio, text: str | None = None) -> list[tuple[str, float, float]]:
    """[(word, start_s, end_s)] sorted by start: recognised, or ``text`` aligned to the audio.

    Silence gives an empty list; audio that cannot be read, or a transcript that cannot be aligned
    to it, a MotionlabError naming the file."""
    path = Path(audio)
    Decoder = _load_decoder_class()
    y = _read_speech(path)
    # A little dither: digital silence (exact zeros) breaks the recogniser's feature normalisation.
    noisy = y + 1e-3 * np.random.default_rng(0).standard_normal(len(y)).astype(np.float32)
    pcm = (np.clip(noisy, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    if text is not None:
        words = [w for w in re.findall(r"[a-z']+", text.lower())]
        if not words:
            raise MotionlabError(f"{path}: the transcript to align has no words")
        try:
            decoder.set_align_text(" ".join(words))
        except RuntimeError as e:
            raise MotionlabError(f"{path}: cannot align the transcript ({e}); words outside PocketSphinx's dictionary?") from None
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    segments = decoder.seg()
    if segments is None:
        if text is not None:
            raise MotionlabError(f"{path}: PocketSphinx could not align the transcript to this audio (is it the right transcript?)")
        return []
    rate = float(decoder.config["frate"])
    words = [(re.sub(r"\(\d+\)$", "", s.word), s.start_frame / rate, (s.end_frame + 1) / rate)
             for s in segments if not s.word.startswith(("<", "[")) and s.word not in ("++noise++",)]
    return _trim_to_voice(sorted(words, key=lambda w: w[1]), _voiced(y))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def cached_transcription(folder, take: str, audio, text_file=None) -> tuple[list[tuple[str, float, float]], dict]:
    """``transcribe_words`` for a take, through the data folder's cache; -> (words, record for the meta)."""
    from motionlab.feature_extraction.text import read_word_timings

    folder, audio = Path(folder), Path(audio)
    text = Path(text_file).read_text(encoding="utf-8", errors="replace") if text_file else None
    record = {"tool": "pocketsphinx", "model": "en-us (packaged)", "mode": "align" if text else "recognise", "version": VERSION,
              "audio_sha256": _digest(audio), "transcript_sha256": hashlib.sha256(text.encode()).hexdigest()[:16] if text else None,
              "voiced_fraction": VOICED_FRACTION}
    csv_path, json_path = folder / TRANSCRIPTS / f"{take}.words.csv", folder / TRANSCRIPTS / f"{take}.json"
    if csv_path.is_file() and json_path.is_file():
        try:
            if json.loads(json_path.read_text()) == record:
                return (read_word_timings(csv_path) if csv_path.stat().st_size > len("word,start,end\n") else []), record
        except (ValueError, MotionlabError):
            pass  # a damaged cache is redone
    words = transcribe_words(audio, text)
    write_text(csv_path, "word,start,end\n" + "".join(f"{w},{s:.3f},{e:.3f}\n" for w, s, e in words))
    write_json(json_path, record)
    return words, record
