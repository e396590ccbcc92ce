"""Keypoint npy loading, flattening and OpenPose folders (small synthetic files, exact checks)."""

import json

import numpy as np
import pytest

from motionlab.feature_extraction.keypoints import (
    features_to_keypoints,
    keypoint_columns,
    keypoints_to_features,
    load_keypoints_npy,
    load_openpose_folder,
)
from motionlab.utils.errors import MotionlabError

# ----------------------------------------------------------------- npy


def test_load_keypoints_npy_nan_names_file_frame_joint(tmp_path):
    kp = np.zeros((6, 4, 3), np.float32)
    kp[3, 2, 1] = np.nan
    p = tmp_path / "take.npy"
    np.save(p, kp)
    with pytest.raises(MotionlabError) as e:
        load_keypoints_npy(p)
    msg = str(e.value)
    assert str(p) in msg and "frame 3" in msg and "joint 2" in msg


def test_load_keypoints_npy_interpolates_nan_linearly(tmp_path):
    kp = np.zeros((5, 2, 2), np.float32)
    kp[:, 0, 0] = [0, np.nan, np.nan, 3, 4]
    kp[:, 1, 1] = [np.nan, 1, 2, 3, np.nan]  # edges hold the nearest valid value
    p = tmp_path / "take.npy"
    np.save(p, kp)
    out = load_keypoints_npy(p, interpolate_nan=True)
    assert out.dtype == np.float32 and out.shape == (5, 2, 2)
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(out[:, 1, 1], [1, 1, 2, 3, 3])


def test_load_keypoints_npy_all_nan_joint_and_bad_shape(tmp_path):
    kp = np.zeros((4, 3, 2))
    kp[:, 1, 0] = np.nan
    p = tmp_path / "a.npy"
    np.save(p, kp)
    with pytest.raises(MotionlabError, match="joint 1 coordinate x is NaN in every frame"):
        load_keypoints_npy(p, interpolate_nan=True)
    q = tmp_path / "b.npy"
    np.save(q, np.zeros((4, 3, 4)))
    with pytest.raises(MotionlabError, match=r"b\.npy.*expected.*\(frames, joints, 2 or 3\).*\(4, 3, 4\)"):
        load_keypoints_npy(q)


def test_features_round_trip_columns_root_and_scale():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(7, 5, 3))
    feat = keypoints_to_features(kp, root_joint=None)
    assert feat.shape == (7, 15) and feat.dtype == np.float32
    np.testing.assert_allclose(features_to_keypoints(feat, 5, 3), kp, rtol=1e-6)
    assert keypoint_columns(2, 3) == ["j0_x", "j0_y", "j0_z", "j1_x", "j1_y", "j1_z"]
    assert keypoint_columns(1, 2) == ["j0_x", "j0_y"]
    rel = features_to_keypoints(keypoints_to_features(kp, root_joint=2, normalise=(0, 1)), 5, 3)
    np.testing.assert_allclose(rel[:, 2], 0, atol=1e-7)
    assert np.median(np.linalg.norm(rel[:, 0] - rel[:, 1], axis=-1)) == pytest.approx(1, rel=1e-5)
    with pytest.raises(MotionlabError, match=r"expected shape \(frames, 15\).*found \(7, 14\)"):
        features_to_keypoints(np.zeros((7, 14)), 5, 3)


# ----------------------------------------------------------------- OpenPose


def _person(t, conf=0.9, offset=(100.0, 50.0), width=40.0):
    """A person whose points move with t; neck at offset, shoulders ``width`` apart."""
    body = np.zeros((25, 3))
    body[:, 0] = offset[0] + np.arange(25) + t
    body[:, 1] = offset[1] + 2 * np.arange(25)
    body[:, 2] = conf
    body[1, :2] = offset
    body[2, :2] = (offset[0] - width / 2, offset[1])
    body[5, :2] = (offset[0] + width / 2, offset[1])
    parts = {"pose_keypoints_2d": body}
    for key, n in (("hand_left_keypoints_2d", 21), ("hand_right_keypoints_2d", 21), ("face_keypoints_2d", 70)):
        a = np.zeros((n, 3))
        a[:, 0] = offset[0] + 3 * np.arange(n) + t
        a[:, 1] = offset[1] - np.arange(n)
        a[:, 2] = conf
        parts[key] = a
    return parts


def _write_frame(folder, n, people):
    folder.mkdir(exist_ok=True)
    data = {"version": 1.3, "people": [{"person_id": [-1], **{k: v.reshape(-1).tolist() for k, v in p.items()}} for p in people]}
    (folder / f"take_{n:012d}_keypoints.json").write_text(json.dumps(data))


def _take(tmp_path, frames=range(6), edit=None, name="take"):
    folder = tmp_path / name
    for t in frames:
        p = _person(t)
        if edit:
            edit(t, p)
        _write_frame(folder, t, [p])
    return folder


def test_openpose_normalises_root_and_shoulder_width(tmp_path):
    folder = _take(tmp_path)
    kp, info = load_openpose_folder(folder)
    assert kp.shape == (6, 137, 2) and kp.dtype == np.float32
    assert info["scale"] == pytest.approx(40.0)
    assert info["frames"] == list(range(6)) and info["filled"] == []
    np.testing.assert_allclose(kp[:, 1], 0, atol=1e-7)  # neck is the root
    np.testing.assert_allclose(np.linalg.norm(kp[:, 2] - kp[:, 5], axis=-1), 1.0, rtol=1e-6)
    # body point 7 at frame 3: x = 100 + 7 + 3, y = 50 + 14 -> relative to neck (100, 50), / 40
    np.testing.assert_allclose(kp[3, 7], [10 / 40, 14 / 40], rtol=1e-6)
    # order: body 25, left hand 21, right hand 21, face 70; face point 4 at frame 2
    np.testing.assert_allclose(kp[2, 25 + 42 + 4], [(12 + 2) / 40, -4 / 40], rtol=1e-6)
    np.testing.assert_allclose(kp * info["scale"] + info["root"][:, None], kp * 40 + np.array([100, 50]), rtol=1e-6)
    body_only, _ = load_openpose_folder(folder, parts=("body",))
    np.testing.assert_array_equal(body_only, kp[:, :25])


def test_openpose_interpolates_low_confidence_point(tmp_path):
    def edit(t, p):
        if t == 2:
            p["pose_keypoints_2d"][7] = [999.0, 999.0, 0.05]  # junk below min_confidence

    kp, _ = load_openpose_folder(_take(tmp_path, edit=edit), min_confidence=0.1)
    # frames 1 and 3 give x = 108 and 110 -> frame 2 interpolated to 109 (same as the true track)
    np.testing.assert_allclose(kp[2, 7], [9 / 40, 14 / 40], rtol=1e-6)


def test_openpose_missing_frames_error_and_fill(tmp_path):
    folder = _take(tmp_path, frames=[0, 1, 2, 4, 5, 6])
    _write_frame(folder, 5, [])  # nobody detected in frame 5
    with pytest.raises(MotionlabError) as e:
        load_openpose_folder(folder)
    msg = str(e.value)
    assert str(folder) in msg and "2 missing frame(s)" in msg and "3, 5" in msg
    kp, info = load_openpose_folder(folder, fill_missing=True)
    assert kp.shape == (7, 137, 2) and info["filled"] == [3, 5]
    full, _ = load_openpose_folder(_take(tmp_path, frames=range(7), name="complete"))
    np.testing.assert_allclose(kp, full, rtol=1e-6, atol=1e-7)  # motion is linear in t, so filling is exact


def test_openpose_person_choice_and_bad_files(tmp_path):
    folder = tmp_path / "two"
    for t in range(3):
        _write_frame(folder, t, [_person(t, conf=0.3, offset=(0.0, 0.0)), _person(t, conf=0.8)])
    first, info_first = load_openpose_folder(folder, parts=("body",))
    best, info = load_openpose_folder(folder, parts=("body",), person="most_confident")
    np.testing.assert_allclose(best[:, 7], first[:, 7])  # same body, other position in the image
    assert info_first["root"][0].tolist() == [0.0, 0.0]
    assert info["root"][0].tolist() == [100.0, 50.0]

    bad = tmp_path / "noface"
    p = _person(0)
    del p["face_keypoints_2d"]
    _write_frame(bad, 0, [p])
    with pytest.raises(MotionlabError, match=r"take_000000000000_keypoints\.json.*missing key 'face_keypoints_2d'"):
        load_openpose_folder(bad)
    short = tmp_path / "short"
    p = _person(0)
    p["pose_keypoints_2d"] = p["pose_keypoints_2d"][:18]
    _write_frame(short, 0, [p])
    with pytest.raises(MotionlabError, match=r"expected 75 values.*found 54"):
        load_openpose_folder(short)
