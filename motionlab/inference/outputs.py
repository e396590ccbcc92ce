"""Turn generated motion features back into things people look at: BVH files and videos.

What a feature is comes from its ``<feature>.meta.json``: BVH features carry the saved motion
pipeline (so the BVH has the training skeleton), keypoint features their encoding
(``encode_keypoints`` settings), each sequence's start state, bones and left/right joints. Audio for videos comes from ``prepare.json`` (source file and start time of each
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


def keypoint_start_state(meta: dict, seq: str | None) -> dict:
    """``start_position``/``start_heading`` of ``seq`` from a keypoint feature's meta ``start_states``
    (written by prepare and the importers); {} (origin, heading 0) for new audio or unknown sequences."""
    state = (meta["settings"].get("start_states") or {}).get(seq) if seq else None
    if not state:
        return {}
    return {"start_position": state["position"], "start_heading": float(state.get("heading", 0.0))}


def skeleton_drawing(data_dir, feature: str, features: np.ndarray, seq: str | None = None) -> dict:
    """What the renderer needs to draw ``features``: positions (T, J, 2|3), parents or edges, up axis,
    and joint names or left/right joint lists (so left and right limbs get their colours)."""
    meta = _meta(data_dir, feature)
    kind = meta.get("kind")
    if kind == "motion":
        pipe = load_pipeline(data_dir, feature)
        info = sequence_info(data_dir, seq) if seq else {}
        pos = pipe.inverse_positions(features, start_position=info.get("start_position"), start_heading=info.get("start_heading", 0.0))
        return {"positions": pos, "parents": list(pipe.skeleton.parents), "up_axis": pipe.up_axis, "joint_names": list(pipe.skeleton.names)}
    if kind == "keypoints":
        st = meta["settings"]
        sides = {"left_joints": st.get("left_joints"), "right_joints": st.get("right_joints")}
        if "encoding" in st:  # root steps + heading change (encode_keypoints): integrate from the sequence's start
            from motionlab.feature_extraction.keypoints import decode_keypoints

            try:
                pos = decode_keypoints(features, st["encoding"], **keypoint_start_state(meta, seq))
            except MotionlabError as e:
                raise MotionlabError(f"{_folder(data_dir).meta_path(feature)}: {e}") from None
            return {"positions": pos, "edges": st.get("edges"), "up_axis": st["encoding"].get("up_axis") or "y", **sides}
        # Plain flattened joints (PATS/SDT importers), optionally relative to a root trajectory in the last columns.
        from motionlab.feature_extraction.keypoints import features_to_keypoints

        J, D, traj = int(st["joints"]), int(st["dims"]), int(st.get("trajectory_columns", 0))
        pos = features_to_keypoints(features[:, : J * D], J, D)
        if traj:
            pos = pos + features[:, None, J * D : J * D + traj]
        return {"positions": pos, "edges": st.get("edges"), "up_axis": "y", **sides}
    raise MotionlabError(f"{_folder(data_dir).meta_path(feature)}: cannot draw a '{kind}' feature as a skeleton (expected a motion or keypoints feature)")


def positions_and_bones(data_dir, feature: str, features: np.ndarray, seq: str | None = None):
    """(positions (T, J, 2|3), bones: a parents list or a list of (i, j) edges or None, up axis).

    Positions are placed where ``seq`` starts (BVH: prepare.json's start pose; keypoints: the
    meta's ``start_states``), so decoded ground truth lies on the source trajectory.
    """
    d = skeleton_drawing(data_dir, feature, features, seq)
    return d["positions"], d.get("parents", d.get("edges")), d["up_axis"]


def audio_for(data_dir, seq: str) -> tuple[Path | None, float]:
    """The audio file of a sequence and the time in it where the sequence starts (``DataFolder.audio_for``)."""
    return _folder(data_dir).audio_for(seq)


def write_video(data_dir, feature: str, features: np.ndarray, path, seq: str | None = None, audio_path=None, audio_start: float = 0.0, compare_features=None) -> Path:
    """Draw features (T, D), already inverse-scaled, to an mp4 with the audio.

    ``compare_features`` (the sequence's ground truth, inverse-scaled) is drawn beside them through
    the same decoding and start state, both cut to the shorter, so a viewer sees them side by side.
    """
    from motionlab.inference.render import render_video

    meta = _meta(data_dir, feature)
    features = np.asarray(features)
    compare = None
    if compare_features is not None:
        compare_features = np.asarray(compare_features)
        if compare_features.ndim != 2 or features.ndim != 2 or compare_features.shape[1] != features.shape[1]:
            raise MotionlabError(f"write_video compare_features: expected ground truth of '{feature}' with shape (frames, {features.shape[-1]}), found {compare_features.shape}")
        n = min(len(features), len(compare_features))
        features, compare_features = features[:n], compare_features[:n]
        compare = skeleton_drawing(data_dir, feature, compare_features, seq)["positions"]
    d = skeleton_drawing(data_dir, feature, features, seq)
    edges = d.get("edges") or None
    return render_video(
        d["positions"], path, meta["fps"], parents=d.get("parents"), edges=edges, joint_names=d.get("joint_names"),
        left_joints=d.get("left_joints"), right_joints=d.get("right_joints"), compare_positions=compare,
        audio_path=audio_path, audio_start=audio_start, up_axis=d["up_axis"], title=seq,
    )


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
