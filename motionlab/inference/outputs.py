"""Turn generated motion features back into things people look at: BVH files and videos.

What a feature is comes from its ``<feature>.meta.json``: BVH features carry the saved motion
pipeline (so the BVH has the training skeleton), keypoint features their joint count and
dimension. Audio for videos comes from ``prepare.json`` (source file and start time of each
sequence) or a ``<seq>.<wav|ogg|mp3|flac>`` beside the features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.feature_extraction.meta import meta_path, read_feature_meta
from motionlab.feature_extraction.prepare import AUDIO_EXTENSIONS, read_manifest
from motionlab.utils.errors import MotionlabError


def _meta(data_dir, feature: str) -> dict:
    meta_file = meta_path(data_dir, feature)
    if not meta_file.exists():
        raise MotionlabError(f"{meta_file}: missing; BVH/video output needs to know how '{feature}' was made (prepare the data with `motionlab prepare`)")
    return read_feature_meta(data_dir, feature)


def load_pipeline(data_dir, feature: str):
    from motionlab.feature_extraction.motion import MotionPipeline

    meta = _meta(data_dir, feature)
    name = meta.get("settings", {}).get("pipeline")
    if meta.get("kind") != "motion" or not name:
        raise MotionlabError(f"{meta_path(data_dir, feature)}: '{feature}' is not a BVH motion feature (kind {meta.get('kind')!r}); --generate_bvh needs one")
    return MotionPipeline.load(Path(data_dir) / name)


def sequence_info(data_dir, seq: str) -> dict:
    manifest = read_manifest(data_dir) or {}
    return manifest.get("sequences", {}).get(seq, {})


def write_bvh(data_dir, feature: str, features: np.ndarray, path, seq: str | None = None) -> Path:
    """Features (T, D), already inverse-scaled, -> BVH of the training skeleton at ``path``."""
    from motionlab.feature_extraction.bvh import save_bvh

    pipe = load_pipeline(data_dir, feature)
    info = sequence_info(data_dir, seq) if seq else {}
    motion = pipe.inverse(features, start_position=info.get("start_position"), start_heading=info.get("start_heading", 0.0))
    return save_bvh(motion, path)


def positions_and_bones(data_dir, feature: str, features: np.ndarray, seq: str | None = None):
    """(positions (T, J, 2|3), bones: a parents list or a list of (i, j) edges or None, up axis)."""
    meta = _meta(data_dir, feature)
    kind = meta.get("kind")
    if kind == "motion":
        pipe = load_pipeline(data_dir, feature)
        info = sequence_info(data_dir, seq) if seq else {}
        pos = pipe.inverse_positions(features, start_position=info.get("start_position"), start_heading=info.get("start_heading", 0.0))
        return pos, list(pipe.skeleton.parents), pipe.up_axis
    if kind == "keypoints":
        from motionlab.feature_extraction.keypoints import features_to_keypoints

        st = meta["settings"]
        J, D, traj = int(st["joints"]), int(st["dims"]), int(st.get("trajectory_columns", 0))
        pos = features_to_keypoints(features[:, : J * D], J, D)
        if traj:  # joints relative to a root trajectory stored in the last columns
            pos = pos + features[:, None, J * D : J * D + traj]
        return pos, st.get("edges"), "y"
    raise MotionlabError(f"{meta_path(data_dir, feature)}: cannot draw a '{kind}' feature as a skeleton (expected a motion or keypoints feature)")


def audio_for(data_dir, seq: str) -> tuple[Path | None, float]:
    """The audio file of a sequence and the time in it where the sequence starts."""
    info = sequence_info(data_dir, seq)
    if info.get("audio") and Path(info["audio"]).exists():
        return Path(info["audio"]), float(info.get("audio_start", 0.0))
    for ext in AUDIO_EXTENSIONS:
        p = Path(data_dir) / f"{seq}{ext}"
        if p.exists():
            return p, 0.0
    return None, 0.0


def write_video(data_dir, feature: str, features: np.ndarray, path, seq: str | None = None, audio_path=None, audio_start: float = 0.0) -> Path:
    from motionlab.inference.render import render_video

    meta = _meta(data_dir, feature)
    pos, bones, up = positions_and_bones(data_dir, feature, features, seq)
    edges = bones if bones and isinstance(bones[0], (list, tuple)) else None
    parents = None if edges else bones
    return render_video(pos, path, meta["fps"], parents=parents, edges=edges, audio_path=audio_path, audio_start=audio_start, up_axis=up, title=seq)


def audio_features_for_file(data_dir, feature: str, audio_file) -> np.ndarray:
    """Extract an audio feature from a new file with the training settings and scaler."""
    from motionlab.feature_extraction.audio import AudioFeatureSettings, extract_audio_file
    from motionlab.feature_extraction.scalers import load_scaler_if_any

    meta = _meta(data_dir, feature)
    if meta.get("kind") != "audio":
        raise MotionlabError(f"input '{feature}' is not an audio feature (kind {meta.get('kind')!r}); --audio_file can only replace audio inputs")
    if meta.get("settings", {}).get("source") != "audio":
        raise MotionlabError(f"input '{feature}' was not extracted by motionlab from audio files ({meta.get('settings', {}).get('source')}), so new audio cannot be processed the same way")
    settings = {k: v for k, v in meta["settings"].items() if k in AudioFeatureSettings.__dataclass_fields__}
    feats, _ = extract_audio_file(audio_file, AudioFeatureSettings.from_dict(settings))
    scaler = load_scaler_if_any(data_dir, feature)
    return scaler.transform(feats) if scaler is not None else feats
