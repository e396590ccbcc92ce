"""Audio decoding and frame-exact audio features at the motion frame rate.

Every feature comes out with exactly ``T = round(duration * fps)`` rows, row ``i`` describing the
audio around time ``i / fps``, so audio and motion arrays can be stacked frame by frame for any fps
(15, 20, 25, 30, 60, 29.97 ...), whatever the sample rate.

How: one STFT per call at an internal analysis rate of at least ~86 frames/s (a hop that is an
integer number of samples, ``sr / (fps * k)`` rounded down), shared by all features. Each analysis
frame (centred at ``j * hop / sr``) belongs to the motion frame whose time is nearest; the frames of
one motion frame are averaged (spectral features) or max-pooled (onset: a transient shorter than a
motion frame must not be averaged away). Beat-like indicators are placed at ``round(t * fps)``.
The finer analysis rate keeps beat tracking accurate even at 15 fps.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import soundfile as sf

from motionlab.datafolder import feature_name as data_feature_name
from motionlab.utils.errors import MotionlabError

FEATURES = ("mel", "logmel", "mfcc", "chroma", "onset", "beats", "downbeats", "flux", "rms")
ANALYSIS_RATE = 86.0  # minimum internal frames per second (librosa's default 512 hop at 22050 Hz)
_NEED_MEL = {"mel", "logmel", "mfcc", "onset", "flux", "beats", "downbeats"}
_NEED_DB = _NEED_MEL - {"mel"}
_NEED_ONSET = {"onset", "beats", "downbeats"}
_MAX_POOLED = {"onset"}


def load_audio(path, sr: int | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file (WAV/FLAC/OGG/MP3 via libsndfile) to mono float32, resampled to ``sr`` if given.

    Channels are averaged. Problems the user can fix (missing, empty or undecodable file) raise
    :class:`MotionlabError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise MotionlabError(f"{path}: audio file not found")
    if not path.is_file():
        raise MotionlabError(f"{path}: expected an audio file, found a directory or special file")
    if path.stat().st_size == 0:
        raise MotionlabError(f"{path}: audio file has zero length (0 bytes)")
    try:
        data, native_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        raise MotionlabError(
            f"{path}: could not be decoded as audio (expected WAV/FLAC/OGG/MP3 readable by "
            f"libsndfile {sf.__libsndfile_version__}); soundfile says: {e}"
        ) from None
    if data.shape[0] == 0:
        raise MotionlabError(f"{path}: audio has zero length (the file holds a header but 0 samples)")
    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise MotionlabError(f"{path}: expected finite audio samples, found NaN or infinity")
    native_sr = int(native_sr)
    if sr is not None and int(sr) != native_sr:
        y, native_sr = _resample(y, native_sr, int(sr)), int(sr)
    return y, native_sr


def _resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    import librosa

    if target_sr <= 0:
        raise MotionlabError(f"sample rate must be positive, got {target_sr}")
    return np.ascontiguousarray(librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr), dtype=np.float32)


def _default_n_fft(sr: int) -> int:
    """Power of two nearest to ~46 ms: 1024 at 16/22.05 kHz, 2048 at 44.1/48 kHz (good frequency resolution, short enough for onsets)."""
    return int(2 ** max(6, round(math.log2(sr * 0.0464))))


@dataclass
class AudioFeatureSettings:
    """Everything that determines an audio feature array; stored in ``<feature>.meta.json`` so generation
    can extract the same features from new audio.

    ``sr``: audio is resampled to this rate first, so mel bands mean the same for every file.
    ``n_fft`` defaults to ~46 ms (see :func:`_default_n_fft`) and is resolved at construction, so the
    JSON records the value actually used.
    """

    features: list[str] = field(default_factory=lambda: ["mel", "onset", "beats"])
    fps: float = 30.0
    sr: int = 22050
    n_mels: int = 80
    n_mfcc: int = 20
    n_fft: int | None = None
    fmin: float = 0.0
    fmax: float | None = None

    def __post_init__(self):
        if isinstance(self.features, str):
            self.features = [f for f in self.features.replace(",", " ").split() if f]
        self.features = [str(f).strip().lower() for f in self.features]
        if not self.features:
            raise MotionlabError(f"audio features: expected at least one of {list(FEATURES)}, found none")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise MotionlabError(f"audio features: expected names from {list(FEATURES)}, found {unknown}")
        dup = sorted({f for f in self.features if self.features.count(f) > 1})
        if dup:
            raise MotionlabError(f"audio features: each feature may be listed once, found duplicates {dup}")
        try:
            self.fps = float(self.fps)
            self.sr = int(self.sr)
            self.n_mels = int(self.n_mels)
            self.n_mfcc = int(self.n_mfcc)
        except (TypeError, ValueError) as e:
            raise MotionlabError(f"audio feature settings: expected numbers for fps/sr/n_mels/n_mfcc ({e})") from None
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise MotionlabError(f"audio feature settings: expected fps > 0, found {self.fps}")
        if self.sr <= 0:
            raise MotionlabError(f"audio feature settings: expected sr > 0, found {self.sr}")
        if self.n_mels <= 0 or not 0 < self.n_mfcc <= self.n_mels:
            raise MotionlabError(
                f"audio feature settings: expected n_mels > 0 and 0 < n_mfcc <= n_mels, found n_mels={self.n_mels} n_mfcc={self.n_mfcc}"
            )
        self.n_fft = _default_n_fft(self.sr) if self.n_fft is None else int(self.n_fft)
        if self.n_fft < 16:
            raise MotionlabError(f"audio feature settings: expected n_fft >= 16, found {self.n_fft}")
        self.fmin = float(self.fmin)
        self.fmax = None if self.fmax is None else float(self.fmax)

    def hop_length(self, sr: int | None = None) -> int:
        """Internal analysis hop in samples: the largest integer <= sr / (fps * k), with k the smallest
        integer giving at least ANALYSIS_RATE frames per second."""
        sr = self.sr if sr is None else int(sr)
        k = max(1, math.ceil(ANALYSIS_RATE / self.fps))
        return max(1, int(sr / (self.fps * k)))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AudioFeatureSettings":
        if not isinstance(d, dict):
            raise MotionlabError(f"audio feature settings: expected a JSON object, found {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise MotionlabError(f"audio feature settings: expected keys from {sorted(names)}, found unknown {unknown}")
        return cls(**d)


def feature_name(settings: AudioFeatureSettings) -> str:
    """File-name-safe name saying what the feature is, e.g. ``audio_mel80_onset_beats_20fps``.

    Names keep the order given; mel/logmel carry n_mels and mfcc carries n_mfcc; the frame rate is
    spelled by :func:`motionlab.datafolder.fps_tag` like every feature's (``29.97fps``).
    """
    parts = []
    for f in settings.features:
        if f in ("mel", "logmel"):
            parts.append(f"{f}{settings.n_mels}")
        elif f == "mfcc":
            parts.append(f"mfcc{settings.n_mfcc}")
        else:
            parts.append(f)
    return data_feature_name("audio_" + "_".join(parts), settings.fps)


def feature_columns(settings: AudioFeatureSettings) -> list[str]:
    """Column names in output order (``mel_0..``, ``chroma_0`` = C, ``onset``, ``beats`` ...)."""
    cols: list[str] = []
    for f in settings.features:
        if f in ("mel", "logmel"):
            cols += [f"{f}_{i}" for i in range(settings.n_mels)]
        elif f == "mfcc":
            cols += [f"mfcc_{i}" for i in range(settings.n_mfcc)]
        elif f == "chroma":
            cols += [f"chroma_{i}" for i in range(12)]
        else:
            cols.append(f)
    return cols


def n_motion_frames(n_samples: int, sr: int, fps: float) -> int:
    """``round(duration * fps)``: the frame count every feature of this audio gets."""
    return int(round(n_samples * float(fps) / sr))


@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


def _pool(x: np.ndarray, hop: int, sr: int, fps: float, n_frames: int, how: str) -> np.ndarray:
    """Pool analysis frames (D, M), frame j centred at j*hop/sr, onto motion frames i (time i/fps).

    Frame j goes to motion frame round(j*hop/sr*fps); frames past the last motion frame are dropped.
    A motion frame that received no analysis frame (only possible when fps > ANALYSIS_RATE with an
    odd hop) is filled by linear interpolation in time.
    """
    d, m = x.shape
    owner = np.floor(np.arange(m) * (hop * fps / sr) + 0.5).astype(np.int64)
    m_keep = int(np.searchsorted(owner, n_frames, side="left"))
    owner = owner[:m_keep]
    out = np.zeros((d, n_frames), dtype=np.float32)
    if m_keep == 0 or n_frames == 0:
        return out
    starts = np.searchsorted(owner, np.arange(n_frames), side="left")
    counts = np.diff(np.append(starts, m_keep))
    filled = counts > 0
    s = starts[filled]
    xk = x[:, :m_keep]
    if how == "max":
        pooled = np.maximum.reduceat(xk, s, axis=1)
    else:
        pooled = np.add.reduceat(xk.astype(np.float64), s, axis=1) / counts[filled]
    out[:, filled] = pooled
    if not filled.all():
        t_all = np.arange(n_frames) / fps
        t_src = np.arange(m_keep) * hop / sr
        for r in range(d):
            out[r, ~filled] = np.interp(t_all[~filled], t_src, xk[r])
    return out


def _indicator(frames_at_analysis_rate: np.ndarray, hop: int, sr: int, fps: float, n_frames: int) -> np.ndarray:
    out = np.zeros((1, n_frames), dtype=np.float32)
    idx = np.round(np.asarray(frames_at_analysis_rate, dtype=np.float64) * hop / sr * fps).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < n_frames)]
    out[0, idx] = 1.0
    return out


def extract_audio_features(
    y: np.ndarray, sr: int, settings: AudioFeatureSettings, n_frames: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Features of mono audio ``y`` as a (T, D) float32 array plus column names, T = round(len(y)/sr*fps).

    ``y`` should already be at ``settings.sr`` (:func:`extract_audio_file` does that) so that mel bands
    are comparable between files; ``n_frames`` overrides T, e.g. to keep the count of the audio before
    resampling or to match a motion take exactly.
    """
    import librosa

    y = np.asarray(y)
    if y.ndim != 1:
        raise MotionlabError(f"audio: expected a mono 1-D sample array, found shape {y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    sr = int(sr)
    fps = settings.fps
    T = n_motion_frames(len(y), sr, fps) if n_frames is None else int(n_frames)
    columns = feature_columns(settings)
    if T <= 0 or len(y) == 0:
        return np.zeros((max(T, 0), len(columns)), dtype=np.float32), columns

    want = set(settings.features)
    hop = settings.hop_length(sr)
    n_fft = settings.n_fft
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    del spec
    blocks: dict[str, np.ndarray] = {}  # name -> (D, M) at the analysis rate, pooled below
    pooled: dict[str, np.ndarray] = {}  # name -> (D, T) already at the motion rate (indicators)

    mel = logmel = onset_env = None
    if want & _NEED_MEL:
        mel = _mel_basis(sr, n_fft, settings.n_mels, settings.fmin, settings.fmax) @ power
    if want & _NEED_DB:
        logmel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    if "mel" in want:
        blocks["mel"] = mel
    if "logmel" in want:
        blocks["logmel"] = logmel
    if "mfcc" in want:
        blocks["mfcc"] = librosa.feature.mfcc(S=logmel, n_mfcc=settings.n_mfcc)
    if "chroma" in want:
        blocks["chroma"] = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, hop_length=hop, tuning=0.0)
    if want & _NEED_ONSET:
        # librosa's onset strength: mean positive log-mel difference, shifted so a click peaks at its time
        onset_env = librosa.onset.onset_strength(S=logmel, sr=sr, n_fft=n_fft, hop_length=hop)
        if "onset" in want:
            blocks["onset"] = onset_env[None]
    if "flux" in want:
        # spectral flux: positive first difference summed over bands, aligned like the onset envelope
        diff = np.maximum(0.0, logmel[:, 1:] - logmel[:, :-1]).sum(axis=0)
        shift = 1 + n_fft // (2 * hop)
        blocks["flux"] = np.concatenate([np.zeros(shift, dtype=diff.dtype), diff])[None, : logmel.shape[1]]
    if "rms" in want:
        blocks["rms"] = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop, center=True, pad_mode="constant")
    if want & {"beats", "downbeats"}:
        beat_frames = np.array([], dtype=np.int64)
        if np.any(onset_env > 0):
            # Tempo from the envelope at half rate (max of frame pairs, ~45 frames/s like librosa's
            # default): the tempogram is the costliest step and this makes it ~4x cheaper.
            half = len(onset_env) // 2 * 2
            if half >= 2:
                env2 = onset_env[:half].reshape(-1, 2).max(axis=1)
                bpm = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=env2, sr=sr, hop_length=2 * hop))[0])
            else:
                bpm = 120.0
            _, beat_frames = librosa.beat.beat_track(
                onset_envelope=onset_env, sr=sr, hop_length=hop, bpm=bpm, units="frames"
            )
            beat_frames = np.asarray(beat_frames, dtype=np.int64)
        if "beats" in want:
            pooled["beats"] = _indicator(beat_frames, hop, sr, fps, T)
        if "downbeats" in want:
            pooled["downbeats"] = _indicator(_downbeat_frames(beat_frames, onset_env), hop, sr, fps, T)

    out = []
    for f in settings.features:
        if f in pooled:
            out.append(pooled[f])
        else:
            out.append(_pool(np.asarray(blocks[f], dtype=np.float32), hop, sr, fps, T, "max" if f in _MAX_POOLED else "mean"))
    feats = np.ascontiguousarray(np.concatenate(out, axis=0).T, dtype=np.float32)
    assert feats.shape == (T, len(columns)), (feats.shape, T, len(columns))
    return feats, columns


def _downbeat_frames(beat_frames: np.ndarray, onset_env: np.ndarray) -> np.ndarray:
    """Every 4th beat, starting at the phase (0..3) whose beats have the strongest mean onset.

    A model-free guess at bar starts in 4/4 music: accents fall on the downbeat more often than not.
    """
    if len(beat_frames) == 0:
        return beat_frames
    strength = onset_env[np.clip(beat_frames, 0, len(onset_env) - 1)]
    means = [strength[p::4].mean() for p in range(min(4, len(beat_frames)))]
    best = int(np.argmax(means))
    return beat_frames[best::4]


def extract_audio_file(path, settings: AudioFeatureSettings) -> tuple[np.ndarray, list[str]]:
    """Decode ``path``, resample to ``settings.sr`` and extract features.

    The frame count comes from the file's own duration (before resampling, whose rounding could add a
    sample), so it equals ``round(duration * fps)``.
    """
    y, native_sr = load_audio(path)
    T = n_motion_frames(len(y), native_sr, settings.fps)
    if native_sr != settings.sr:
        y = _resample(y, native_sr, settings.sr)
    return extract_audio_features(y, settings.sr, settings, n_frames=T)
