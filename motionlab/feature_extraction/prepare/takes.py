"""Decode one take (in a worker process): motion at the target fps, audio features, word timings.

A worker returns a :class:`TakeResult` and never raises: a bad take is reported and skipped,
the others are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionlab.feature_extraction.prepare.discovery import Take
from motionlab.feature_extraction.prepare.settings import PrepareSettings
from motionlab.utils.errors import MotionlabError


@dataclass
class TakeResult:
    """Raw (unscaled) arrays of one take, or why it failed (``error``)."""

    take: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    motion_kind: str | None = None  # bvh | keypoints | openpose
    motion: object = None  # a bvh Motion, or keypoints (T, J, D), at settings.fps
    motion_seconds: float = 0.0
    audio: np.ndarray | None = None
    audio_columns: list[str] | None = None
    words: list | None = None
    words_source: str | None = None  # words_csv | textgrid | pocketsphinx
    text_frames: int | None = None  # text alone: frames the take's audio lasts

    @property
    def n_frames(self) -> int:
        """Common frame count of what was decoded (the shorter of audio and motion)."""
        if self.text_frames is not None:
            return self.text_frames
        lens = [len(self.audio)] if self.audio is not None else []
        if self.motion is not None:
            lens.append(self.motion.n_frames if self.motion_kind == "bvh" else self.motion.shape[0])
        return min(lens)


def resample_frames(x: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """Linear resampling of a (T, ...) array from src_fps to fps (T' = round(T * fps / src_fps))."""
    n = int(round(x.shape[0] * fps / src_fps))
    if n == x.shape[0]:
        return x.astype(np.float32)
    t_new = np.arange(n) / fps
    t_old = np.arange(x.shape[0]) / src_fps
    flat = x.reshape(x.shape[0], -1)
    out = np.stack([np.interp(t_new, t_old, flat[:, k]) for k in range(flat.shape[1])], 1)
    return out.reshape((n,) + x.shape[1:]).astype(np.float32)


def _load_motion(take: Take, s: PrepareSettings, r: TakeResult) -> None:
    """Fill r.motion_kind / r.motion (at s.fps) / r.motion_seconds (source duration)."""
    r.motion_kind = take.motion_kind
    if take.motion_kind == "bvh":
        from motionlab.feature_extraction.bvh import load_bvh
        from motionlab.feature_extraction.motion_ops import resample

        m = load_bvh(take.motion)
        r.motion, r.motion_seconds = resample(m, s.fps), m.n_frames * m.frame_time
        return
    if not s.keypoints_fps:
        what = "keypoint arrays" if take.motion_kind == "keypoints" else "OpenPose folders"
        raise MotionlabError(f"{take.motion}: {what} carry no frame rate; pass --keypoints_fps")
    if take.motion_kind == "keypoints":
        from motionlab.feature_extraction.keypoints import load_keypoints_npy

        kp = load_keypoints_npy(take.motion)
    else:
        from motionlab.feature_extraction.keypoints import load_openpose_folder

        kp, info = load_openpose_folder(take.motion)
        # The loader returns neck-relative points; add the neck track back (in the same shoulder-width
        # units) so the features keep how the person moves through the image.
        kp = kp + info["root"][:, None] / info["scale"]
    r.motion, r.motion_seconds = resample_frames(kp, s.keypoints_fps, s.fps), kp.shape[0] / s.keypoints_fps


def process_take(take: Take, s: PrepareSettings, steps: tuple[str, ...]) -> TakeResult:
    """Decode one take for ``steps``; errors become ``TakeResult.error``. Runs in a worker."""
    r = TakeResult(take.name)
    try:
        if "motion" in steps:
            _load_motion(take, s, r)
        if "audio" in steps:
            from motionlab.feature_extraction.audio import extract_audio_file

            r.audio, r.audio_columns = extract_audio_file(take.audio, s.audio_settings())
        if "text" in steps and take.words is not None:
            from motionlab.feature_extraction.text import read_textgrid_words, read_word_timings

            textgrid = take.words.suffix.lower() == ".textgrid"
            r.words = read_textgrid_words(take.words) if textgrid else read_word_timings(take.words)
            r.words_source = "textgrid" if textgrid else "words_csv"
            if take.audio is not None:
                import soundfile as sf

                from motionlab.feature_extraction.text import check_word_timings

                try:
                    duration = sf.info(str(take.audio)).duration
                except RuntimeError:
                    duration = None  # an unreadable audio file is reported by the audio step
                r.words = check_word_timings(r.words, take.words, duration)
        elif "text" in steps and s.transcribe and take.audio is not None:
            from motionlab.feature_extraction.transcribe import cached_transcription

            transcript = take.audio.with_suffix(".txt")  # a known transcript beside the take is aligned, not recognised
            r.words, record = cached_transcription(take.audio.parent, take.name, take.audio, transcript if transcript.is_file() else None)
            r.words_source = f"pocketsphinx ({record['mode']})"
        if "text" in steps and r.words is not None and steps == ("text",):  # text alone: the frame count comes from the take's audio
            import soundfile as sf

            if take.audio is None:
                raise MotionlabError(f"{take.words}: no audio file beside it to give the take's duration")
            r.text_frames = int(round(sf.info(str(take.audio)).duration * s.fps))
        if r.audio is not None and r.motion is not None:
            audio_seconds = len(r.audio) / s.fps
            if abs(audio_seconds - r.motion_seconds) > s.max_duration_mismatch:
                msg = f"audio {take.audio.name} lasts {audio_seconds:.2f} s but motion {take.motion.name} {r.motion_seconds:.2f} s"
                if s.strict:
                    raise MotionlabError(msg + f" (--strict refuses takes whose durations differ by more than {s.max_duration_mismatch:g} s)")
                r.warnings.append(msg + "; trimmed to the shorter")
        return r
    except MotionlabError as e:
        return TakeResult(take.name, error=str(e))
    except Exception as e:  # a worker must report, never kill the whole run
        return TakeResult(take.name, error=f"{type(e).__name__}: {e}")


def run_takes(takes: list[Take], s: PrepareSettings, steps, jobs: int, progress: bool) -> list[TakeResult]:
    """Decode every take, in ``jobs`` processes when more than one."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    bar = dict(total=len(takes), desc="takes", unit="take", disable=not progress)
    if jobs <= 1 or len(takes) == 1:
        return [process_take(t, s, steps) for t in tqdm(takes, **bar)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(process_take, t, s, steps) for t in takes]
        return [f.result() for f in tqdm(futures, **bar)]
