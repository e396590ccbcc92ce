"""Import "Dance with Melody" (Tang, Jia & Mao 2018) takes into the standard data folder.

Layout: one folder per take with ``skeletons.json`` (``length`` N, ``skeletons`` N x 23 x 3
root-relative positions, ``center`` N x 3 root trajectory), ``audio.mp3`` (the whole song) and
``config.json`` (``start_position``/``end_position`` in music frames at 25 fps). Motion frame 0
is music time ``start_position / fps``, so the song is cut there and to exactly the motion's
duration (``end_position`` can disagree with N by up to 56 frames; the motion length wins) and
written as ``<take>.wav`` for the audio extractor; the motion becomes
``<take>.keypoints3d_cr_25fps.npy``: the 23 joints in world space (``skeletons + center``) and the
centre as a 24th joint, encoded by ``encode_keypoints`` with the centre as the root and the hips
(16 left, 7 right) as the heading pair. A model then sees per-frame root steps and turns instead of
absolute room positions it cannot predict (sampled dances drifted and jumped); each take's start
state goes to the meta's ``start_states`` so its ground truth decodes back in place.

The dance style of a take is the letter after ``DANCE_`` in its folder name (the dataset's naming:
C cha-cha, R rumba, T tango, W waltz); it goes to ``speakers.json`` so style models (StAGE,
Mix-StAGE, the style classifier) can use it. Unknown letters are kept as they are.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from motionlab.datafolder import DataFolder, check_seq_id, feature_name
from motionlab.feature_extraction.importers import split_lists, write_wav
from motionlab.feature_extraction.keypoints import encode_keypoints
from motionlab.feature_extraction.prepare.writer import keypoint_start_states
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json

log = logging.getLogger(__name__)

N_JOINTS = 23  # in skeletons.json; the features add the centre as joint 23 (the root)
ROOT_JOINT = 23
HEADING_JOINTS = (16, 7)  # (left hip, right hip)
LEFT_JOINTS = list(range(12, 22))
RIGHT_JOINTS = list(range(3, 12)) + [22]
# Bones to draw (the dataset's utils/draw.py links; the midpoint links are left out): head, arms, legs, feet.
EDGES = [(0, 1), (3, 4), (4, 5), (5, 6), (12, 13), (13, 14), (14, 15), (3, 12), (7, 16), (7, 8), (8, 9), (9, 10), (9, 11), (16, 17), (17, 18), (18, 19), (18, 20), (2, 3), (2, 12), (2, 7), (2, 16)]
TAKE_FILES = ("skeletons.json", "audio.mp3", "config.json")
# The letter after DANCE_ in a take folder's name (dataset README / PROVENANCE.md).
STYLE_NAMES = {"C": "cha-cha", "R": "rumba", "T": "tango", "W": "waltz"}
_TAKE_NAME = re.compile(r"DANCE_([A-Za-z]+)_[^_]+")


def take_style(take: str, where: str = "") -> str:
    """Dance style of a take folder named ``DANCE_<letter>_<n>``: the readable name of the letter
    (cha-cha, rumba, tango, waltz), or the letter itself when the dataset does not name it."""
    m = _TAKE_NAME.fullmatch(take)
    if not m:
        raise MotionlabError(
            f"{where or take}: take folder '{take}' does not follow the Dance with Melody naming DANCE_<style letter>_<number> "
            f"(e.g. DANCE_C_8); the dance style written to speakers.json comes from that letter ({', '.join(f'{k} {v}' for k, v in STYLE_NAMES.items())})"
        )
    letter = m.group(1)
    return STYLE_NAMES.get(letter.upper(), letter)


def motion_feature_name(fps: float) -> str:
    """``keypoints3d_cr_<fps>``: ``_cr`` says the root is encoded as steps, like ``bvh_*_cr`` features."""
    return feature_name("keypoints3d_cr", fps)


def _require(obj, keys, path: Path):
    if not isinstance(obj, dict):
        raise MotionlabError(f"{path}: expected a JSON object with keys {list(keys)}, found {type(obj).__name__}")
    for k in keys:
        if k not in obj:
            raise MotionlabError(f"{path}: missing key '{k}' (expected keys {list(keys)}, found {sorted(obj)})")


def _array(value, path: Path, key: str, shape: tuple) -> np.ndarray:
    """``value`` as float64 of ``shape`` (None matches any size), else an error naming the key."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise MotionlabError(f"{path}: '{key}' is not a rectangular numeric array (expected shape {shape})") from None
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        want = " x ".join("N" if s is None else str(s) for s in shape)
        raise MotionlabError(f"{path}: '{key}' expected shape {want}, found {a.shape}")
    if not np.isfinite(a).all():
        t = int(np.argwhere(~np.isfinite(a))[0][0])
        raise MotionlabError(f"{path}: '{key}' contains NaN/inf (first at frame {t})")
    return a


def _read_take(take_dir: Path, fps: float) -> dict:
    """Validate one take and return its motion array and audio cut (nothing written yet)."""
    import soundfile as sf

    for name in TAKE_FILES:
        if not (take_dir / name).exists():
            raise MotionlabError(f"{take_dir / name}: file not found (a Dance with Melody take needs {', '.join(TAKE_FILES)})")
    skel_path, cfg_path, audio_path = take_dir / "skeletons.json", take_dir / "config.json", take_dir / "audio.mp3"
    sk = read_json(skel_path)
    _require(sk, ("length", "skeletons", "center"), skel_path)
    skeletons = _array(sk["skeletons"], skel_path, "skeletons", (None, N_JOINTS, 3))
    n = skeletons.shape[0]
    center = _array(sk["center"], skel_path, "center", (n, 3))
    if int(sk["length"]) != n:
        raise MotionlabError(f"{skel_path}: 'length' says {sk['length']} frames but 'skeletons' has {n}")
    if n == 0:
        raise MotionlabError(f"{skel_path}: expected at least one frame, found 0")
    cfg = read_json(cfg_path)
    _require(cfg, ("start_position", "end_position"), cfg_path)
    start, end = int(cfg["start_position"]), int(cfg["end_position"])
    if start < 0 or end < start:
        raise MotionlabError(f"{cfg_path}: expected 0 <= start_position <= end_position, found {start}, {end}")
    try:
        info = sf.info(str(audio_path))
    except Exception as e:  # libsndfile raises its own error types for unreadable files
        raise MotionlabError(f"{audio_path}: cannot decode audio ({e})") from None
    sr = info.samplerate
    first = int(round(start / fps * sr))
    n_samples = int(round(n / fps * sr))
    if first + n_samples > info.frames:
        raise MotionlabError(
            f"{audio_path}: song too short: motion needs {n / fps:.3f} s from {start / fps:.3f} s "
            f"(up to sample {first + n_samples}), found {info.frames} samples ({info.frames / sr:.3f} s)"
        )
    if end - start != n:
        log.info("%s: music span %d frames, motion %d frames; audio cut to the motion length", take_dir.name, end - start, n)
    world = np.concatenate([skeletons + center[:, None], center[:, None]], axis=1)  # (N, 24, 3), centre last
    try:
        motion, columns, encoding = encode_keypoints(world, root_joint=ROOT_JOINT, up_axis="y", heading_joints=HEADING_JOINTS)
    except MotionlabError as e:
        raise MotionlabError(f"{skel_path}: {e}") from None
    return {
        "take": check_seq_id(take_dir.name, str(take_dir)),
        "motion": motion,
        "world": world,
        "columns": columns,
        "encoding": encoding,
        "audio_path": audio_path,
        "sr": sr,
        "first_sample": first,
        "n_samples": n_samples,
        "start_position": start,
        "end_position": end,
        "offset_seconds": start / fps,
        "n_frames": n,
    }


def _time_segments(takes: list[dict], fps: float, val_fraction: float, test_fraction: float) -> list[dict]:
    """Each take cut into train/val/test stretches (prepare's time split), re-encoded and with its audio cut to match."""
    from motionlab.feature_extraction.prepare.splits import make_splits

    out = []
    for t in takes:
        for seq, seg in make_splits([t["take"]], {t["take"]: t["n_frames"]}, "time", val_fraction, test_fraction, 0).items():
            world = t["world"][seg.start : seg.end]
            motion, columns, encoding = encode_keypoints(world, root_joint=ROOT_JOINT, up_axis="y", heading_joints=HEADING_JOINTS)
            first = t["first_sample"] + int(round(seg.start / fps * t["sr"]))
            n = seg.end - seg.start
            out.append({
                **t, "take": seq, "source_take": t["take"], "split": seg.split, "motion": motion, "world": world, "columns": columns, "encoding": encoding,
                "first_sample": first, "n_samples": int(round(n / fps * t["sr"])), "n_frames": n,
                "start_position": t["start_position"] + seg.start, "offset_seconds": (t["start_position"] + seg.start) / fps,
            })
    return out


def find_takes(src_dir) -> list[Path]:
    """Take folders: sub-folders holding any of the take files (a partial take is an error later)."""
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise MotionlabError(f"{src_dir}: Dance with Melody folder not found")
    takes = sorted(d for d in src_dir.iterdir() if d.is_dir() and any((d / f).exists() for f in TAKE_FILES))
    if not takes:
        raise MotionlabError(f"{src_dir}: no take folders found (expected sub-folders with {', '.join(TAKE_FILES)})")
    return takes


def choose_splits(names: Iterable[str], val_takes: Iterable[str] = (), test_takes: Iterable[str] = (), seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1, where="") -> dict[str, str]:
    """take -> split. Named val/test takes are kept; a split nobody named is filled like ``prepare``
    does (shuffled with ``seed``, round(fraction x takes), at least one), from the other takes."""
    from motionlab.feature_extraction.prepare.splits import assign_takes

    names, val_takes, test_takes = list(names), set(val_takes), set(test_takes)
    unknown = (val_takes | test_takes) - set(names)
    if unknown:
        raise MotionlabError(f"{where}: val/test takes {sorted(unknown)} not found; found takes {sorted(names)}")
    both = val_takes & test_takes
    if both:
        raise MotionlabError(f"{where}: takes {sorted(both)} named in both --val_takes and --test_takes")
    split_of = {t: "test" if t in test_takes else "val" if t in val_takes else "train" for t in names}
    rest = [t for t in names if split_of[t] == "train"]
    fill_val, fill_test = (0.0 if val_takes else val_fraction), (0.0 if test_takes else test_fraction)
    if fill_val or fill_test:
        try:
            split_of.update(assign_takes(rest, fill_val, fill_test, seed))
        except MotionlabError as e:
            raise MotionlabError(
                f"{where}: cannot choose the {' and '.join(sp for sp, f in (('val', fill_val), ('test', fill_test)) if f)} takes: {e}. "
                "Dance with Melody has no published split: import at least 3 takes, or name them with --val_takes/--test_takes"
            ) from None
    return split_of


def import_dance_melody(
    src_dir,
    out_dir,
    fps: float = 25,
    val_takes: Iterable[str] = (),
    test_takes: Iterable[str] = (),
    wav_subtype: str = "FLOAT",
    seed: int = 0,
    split_mode: str = "takes",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> list[dict]:
    """Import every take under ``src_dir`` into ``out_dir``; returns one dict per take.

    The layout has no split of its own: takes named in ``val_takes``/``test_takes`` go there and
    a split nobody named is chosen like ``prepare`` does (takes shuffled with ``seed``, at least
    one each; 3 takes are needed). Each returned dict has ``take``, ``start_position``,
    ``end_position``, ``offset_seconds`` (song time of motion frame 0), ``n_frames``, ``sr``,
    ``n_samples``, ``split`` and ``style`` (also written to ``speakers.json``). The wav keeps the song's rate and channels; FLOAT keeps the
    decoded samples exact.

    ``split_mode="time"`` instead cuts every take into train / val / test stretches (the last
    ``test_fraction`` of it is ``<take>-test``, the ``val_fraction`` before it ``<take>-val``), each
    encoded as its own sequence with its own audio: every dance style is then in every split.
    """
    import soundfile as sf

    df = DataFolder(out_dir)
    takes = [_read_take(d, fps) for d in find_takes(src_dir)]  # validate everything before writing
    if split_mode == "time":
        if val_takes or test_takes:
            raise MotionlabError("--split_mode time cuts every take in time: --val_takes/--test_takes name whole takes, drop them")
        takes = _time_segments(takes, fps, val_fraction, test_fraction)
        split_of = {t["take"]: t["split"] for t in takes}
    elif split_mode == "takes":
        split_of = choose_splits([t["take"] for t in takes], val_takes, test_takes, seed, where=str(src_dir))
    else:
        raise MotionlabError(f"--split_mode must be takes or time, found {split_mode!r}")
    styles = {t["take"]: take_style(t.get("source_take", t["take"]), str(Path(src_dir) / t.get("source_take", t["take"]))) for t in takes}
    lists = df.check_splits(split_lists(split_of))
    feature = motion_feature_name(fps)
    motions, results = {}, []
    for t in takes:
        audio, sr = sf.read(str(t["audio_path"]), start=t["first_sample"], frames=t["n_samples"], dtype="float32", always_2d=False)
        if len(audio) != t["n_samples"]:
            raise MotionlabError(f"{t['audio_path']}: expected {t['n_samples']} samples from sample {t['first_sample']}, decoded {len(audio)}")
        write_wav(df.path / f"{t['take']}.wav", audio, sr, subtype=wav_subtype)
        motions[t["take"]] = t["motion"]
        results.append({**{k: t[k] for k in ("take", "start_position", "end_position", "offset_seconds", "n_frames", "sr", "n_samples")}, "split": split_of[t["take"]], "style": styles[t["take"]]})
    encoding = takes[0]["encoding"]
    settings = {
        "source": "dance_with_melody",
        "src_dir": str(src_dir),
        "positions": "world joints (skeletons + center) then the center as joint 23, encoded by encode_keypoints (root 23, heading from hips 16/7)",
        "audio": "<take>.wav cut from audio.mp3 at start_position/fps for n_frames/fps seconds",
        "takes": {r["take"]: {"start_position": r["start_position"], "offset_seconds": r["offset_seconds"]} for r in results},
        "joints": N_JOINTS + 1,
        "dims": 3,
        "encoding": encoding,
        "start_states": keypoint_start_states({t["take"]: t["world"] for t in takes}, encoding),
        "edges": EDGES,
        "left_joints": LEFT_JOINTS,
        "right_joints": RIGHT_JOINTS,
    }
    df.write_feature(feature, motions, fps=fps, columns=takes[0]["columns"], settings=settings, kind="keypoints", scale=None)
    df.write_splits(lists)
    df.write_speakers(styles)
    return results
