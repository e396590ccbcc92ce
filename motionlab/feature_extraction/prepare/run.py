"""``prepare``: discover takes, decode them, choose splits, write everything; ``scale_features`` for imports."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from motionlab.datafolder import AUDIO_EXTENSIONS, DataFolder
from motionlab.feature_extraction.prepare.discovery import discover_takes, fingerprint
from motionlab.feature_extraction.prepare.settings import STEPS, PrepareSettings, Summary
from motionlab.feature_extraction.prepare.splits import Segment, make_splits, split_lists
from motionlab.feature_extraction.prepare.takes import TakeResult, run_takes
from motionlab.feature_extraction.prepare.writer import Writer
from motionlab.utils.errors import MotionlabError

MANIFEST_VERSION = 1


def prepare(src, settings: PrepareSettings | None = None, *, steps=STEPS, jobs: int = 1, replace_existing: bool = False, progress: bool = True) -> Summary:
    """Prepare the folder ``src`` in place (see the package docstring)."""
    s = settings or PrepareSettings()
    src = Path(src)
    if not src.is_dir():
        raise MotionlabError(f"{src}: folder not found")
    df = DataFolder(src)
    steps = tuple(st for st in STEPS if st in steps)
    if "audio" in steps:
        s.audio_settings()  # invalid settings fail once, here, not once per take
    summary = Summary()
    usable = []
    for name, t in discover_takes(src).items():
        if "motion" in steps and t.motion is None:
            if t.audio is not None and "audio" in steps and steps != ("audio",):
                summary.skipped[name] = f"no motion file (looked for {name}.bvh, {name}.npy or an OpenPose folder {name}/)"
            continue
        if "audio" in steps and t.audio is None:
            summary.skipped[name] = f"no audio file (looked for {name}{{{','.join(AUDIO_EXTENSIONS)}}})"
            continue
        if steps == ("text",) and t.words is None and not (s.transcribe and t.audio is not None):
            continue
        usable.append(t)
    if not usable:
        raise MotionlabError(f"{src}: no usable takes for {'+'.join(steps)} (expected pairs like take1.bvh + take1.wav){summary.skipped_note()}")

    key = {"version": MANIFEST_VERSION, "settings": asdict(s), "steps": list(steps), "sources": fingerprint([p for t in usable for p in (t.motion, t.audio, t.words)])}
    old = df.manifest()
    if old and not replace_existing and old.get("key") == key and all((src / f).exists() for f in old.get("outputs", [])):
        summary = Summary(**{k: v for k, v in old["summary"].items() if k in Summary.__dataclass_fields__})
        summary.up_to_date = True
        return summary

    good: dict[str, TakeResult] = {}
    for r in run_takes(usable, s, steps, jobs, progress):
        if r.error is not None:
            summary.skipped[r.take] = r.error
        else:
            summary.warnings += [f"{r.take}: {w}" for w in r.warnings]
            good[r.take] = r
    if not good:
        raise MotionlabError(f"{src}: every take failed{summary.skipped_note()}")
    if "motion" in steps:
        kinds = {r.motion_kind for r in good.values()}
        if len(kinds) > 1:
            raise MotionlabError(f"{src}: takes mix motion kinds {sorted(kinds)}; prepare one kind per folder")
        if s.mirror and kinds != {"bvh"}:
            raise MotionlabError("--mirror needs BVH takes (keypoints carry no left/right joint names)")

    lengths = {t: r.n_frames for t, r in good.items()}
    segments = _existing_segments(df, lengths) if steps != STEPS else None
    writer_info = (old or {}).get("sequences") if segments is not None else None
    if segments is None:
        segments = make_splits(list(good), lengths, s.split_mode, s.val_fraction, s.test_fraction, s.seed)
        if s.mirror and "motion" in steps:
            segments.update({f"{q}-mirror": Segment("train", seg.take, seg.start, seg.end, mirrored=True) for q, seg in list(segments.items()) if seg.split == "train"})
        lists = split_lists(segments)
    else:
        lists = None  # the folder's splits stay as they are
    writer = Writer(df, s, segments, good, {t.name: t for t in usable}, summary, writer_info)
    if lists is not None:
        writer.splits(lists, allow_empty=not (s.val_fraction and s.test_fraction))
    if "motion" in steps:
        writer.motion()
    if "audio" in steps:
        writer.audio()
    if "text" in steps:
        writer.text()
    writer.finish(key)
    return summary


def _existing_segments(df: DataFolder, lengths: dict[str, int]) -> dict[str, Segment] | None:
    """The folder's splits as segments of the decoded takes (one step of prepare keeps them), or None
    when there are none or a decoded take is in no split (new takes: split afresh). Sequences of
    takes that failed to decode are left out (the summary names them). Where prepare.json recorded
    a sequence's take and frames (time splits, mirrored copies) those are used; else id = take."""
    if not df.has_splits():
        return None
    info = (df.manifest() or {}).get("sequences") or {}
    segments = {}
    for split, ids in df.splits().items():
        for q in ids:
            i = info.get(q, {})
            take = i.get("take", q)
            if take not in lengths:
                continue
            start = int(i.get("start_frame", 0))
            end = min(start + int(i.get("frames", lengths[take])), lengths[take])
            segments[q] = Segment(split, take, start, end, bool(i.get("mirrored", False)))
    return segments if {seg.take for seg in segments.values()} == set(lengths) else None


def scale_features(data_dir, features=None) -> dict[str, str]:
    """Standardise features with a ``.meta.json`` whose arrays no matching scaler covers (e.g. written by an importer).

    Fits on the train split, rewrites the arrays scaled (atomically) and saves the scaler with
    a record of the arrays it scaled, so training sees standardised values and generation
    inverse-scales. Token ids are left alone; features whose scaler record matches the arrays are
    "already scaled"; a scaler whose record does not match (arrays re-imported raw) is refitted.
    Returns feature -> what was done.
    """
    df = DataFolder(data_dir)
    df.splits()  # a missing split file is an error naming it, before anything is rewritten
    return {name: df.scale_feature(name) for name in (features or df.feature_names())}
