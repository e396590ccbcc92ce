"""Turn generated motion features back into things people look at: BVH files and videos.

What a feature is comes from its ``<feature>.meta.json``: BVH features carry the saved motion
pipeline (so the BVH has the training skeleton), keypoint features their joint count and
dimension. Audio for videos comes from ``prepare.json`` (source file and start time of each
sequence) or a ``<seq>.<wav|ogg|mp3|flac>`` beside the features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.datafolder import DataFolder
from motionlab.utils.errors import MotionlabError


def _folder(data_dir) -> DataFolder:
    return data_dir if isinstance(data_dir, DataFolder) else DataFolder(data_dir)


def _meta(data_dir, feature: str) -> dict:
    df = _folder(data_dir)
    if not df.meta_path(feature).exists():
        raise MotionlabError(f"{df.meta_path(feature)}: missing; BVH/video output needs to know how '{feature}' was made (prepare the data with `motionlab prepare`)")
    return df.meta(feature)


def load_pipeline(data_dir, feature: str):
    """The BVH feature's motion pipeline (``DataFolder.pipeline``)."""
    return _folder(data_dir).pipeline(feature)


def sequence_info(data_dir, seq: str) -> dict:
    return _folder(data_dir).sequence_info(seq)


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
    raise MotionlabError(f"{_folder(data_dir).meta_path(feature)}: cannot draw a '{kind}' feature as a skeleton (expected a motion or keypoints feature)")


def audio_for(data_dir, seq: str) -> tuple[Path | None, float]:
    """The audio file of a sequence and the time in it where the sequence starts (``DataFolder.audio_for``)."""
    return _folder(data_dir).audio_for(seq)


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

    meta = _meta(data_dir, feature)
    if meta.get("kind") != "audio":
        raise MotionlabError(f"input '{feature}' is not an audio feature (kind {meta.get('kind')!r}); --audio_file can only replace audio inputs")
    if meta.get("settings", {}).get("source") != "audio":
        raise MotionlabError(f"input '{feature}' was not extracted by motionlab from audio files ({meta.get('settings', {}).get('source')}), so new audio cannot be processed the same way")
    settings = {k: v for k, v in meta["settings"].items() if k in AudioFeatureSettings.__dataclass_fields__}
    feats, _ = extract_audio_file(audio_file, AudioFeatureSettings.from_dict(settings))
    scaler = _folder(data_dir).scaler(feature)
    return scaler.transform(feats) if scaler is not None else feats
