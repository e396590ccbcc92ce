"""Keypoint npy loading, flattening and OpenPose folders (small synthetic files, exact checks)."""

import json

import numpy as np
import pytest

from motionlab.feature_extraction.keypoints import (
    decode_keypoints,
    encode_keypoints,
    features_to_keypoints,
    keypoint_columns,
    keypoints_start_state,
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


# ----------------------------------------------------------------- root-relative encoding

# A 6-joint body, y up, facing +z at rest: pelvis (root), left hip at +x, right hip at -x, neck, head, hand.
LHIP, RHIP = 1, 2
REST = np.array([[0, 0, 0], [10, -5, 0], [-10, -5, 0], [0, 50, 0], [0, 65, 3], [25, 30, 12]], dtype=float)


def _rot_y(a):
    """(..., 3, 3) rotations by angle(s) a about +y (positive turns +z towards +x)."""
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def turning_walker(T=120, seed=0):
    """Root on a curve that turns by ~3 full circles (headings past +-pi), bobbing; limbs wiggle."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    yaw = 0.3 + 0.16 * t + 0.2 * np.sin(t / 7)
    step = 3.0 + np.sin(t / 5)
    root = np.zeros((T, 3))
    root[:, 0] = 40 + np.cumsum(step * np.sin(yaw))
    root[:, 2] = -15 + np.cumsum(step * np.cos(yaw))
    root[:, 1] = 90 + 4 * np.sin(t / 3)
    body = REST + rng.normal(scale=2.0, size=(T,) + REST.shape) * (np.arange(6) > 2)[:, None]
    return root[:, None] + np.einsum("tij,tkj->tki", _rot_y(yaw), body), yaw


def test_keypoints_round_trip_turning_3d():
    kp, yaw = turning_walker()
    feat, cols, settings = encode_keypoints(kp, root_joint=0, up_axis="y", heading_joints=(LHIP, RHIP))
    assert feat.dtype == np.float32 and feat.shape == (120, 4 + 5 * 3)
    assert cols[:4] == ["root_dx", "root_dz", "root_dyaw", "root_y"] and cols[4:7] == ["j1_x", "j1_y", "j1_z"]
    start, heading = keypoints_start_state(kp, settings)
    np.testing.assert_allclose(start, kp[0, 0])
    assert heading == pytest.approx(0.3)
    settings = json.loads(json.dumps(settings))  # settings live in meta.json
    back = decode_keypoints(feat, settings, start_position=start, start_heading=heading)
    np.testing.assert_allclose(back, kp, atol=1e-3)  # float32 features, 120 integrated steps
    np.testing.assert_allclose(feat[:, 2], np.r_[np.diff(yaw), np.diff(yaw)[-1]], atol=1e-6)  # the true turn rate
    # the hips define the heading, so in the heading frame they sit exactly at rest
    np.testing.assert_allclose(feat[:, 4:].reshape(120, 5, 3)[:, :2], np.broadcast_to(REST[1:3], (120, 2, 3)), atol=1e-4)


def test_keypoints_features_ignore_world_placement_and_decode_displacements():
    """Moving/turning the whole take leaves features unchanged; decoded steps equal the source's."""
    kp, _ = turning_walker(seed=1)
    feat, _, settings = encode_keypoints(kp, heading_joints=(LHIP, RHIP))
    moved = np.einsum("ij,tkj->tki", _rot_y(np.array(2.0)), kp) + [300.0, 0.0, -80.0]  # height is absolute, so no vertical shift
    feat2, _, _ = encode_keypoints(moved, heading_joints=(LHIP, RHIP))
    np.testing.assert_allclose(feat2, feat, atol=1e-4)
    # from the default start (origin, heading 0): same per-frame root displacement up to a turn about y
    dec = decode_keypoints(feat, settings)
    d_src, d_dec = np.diff(kp[:, 0], axis=0), np.diff(dec[:, 0], axis=0)
    np.testing.assert_allclose(np.linalg.norm(d_dec, axis=1), np.linalg.norm(d_src, axis=1), rtol=1e-5)
    np.testing.assert_allclose(d_dec[:, 1], d_src[:, 1], atol=1e-4)
    np.testing.assert_allclose(dec[:, 0, 1], kp[:, 0, 1], atol=1e-4)  # height is absolute
    assert np.abs(feat[:, :2]).max() <= np.linalg.norm(d_src, axis=1).max() + 1e-4  # steps, not positions


def test_keypoints_heading_convention_and_fallback():
    # rest pose, facing +z, left hip at +x: heading 0; turned +90 deg about y: heading +pi/2 and the
    # root step along the character's forward shows as root_dz.
    T = 5
    kp = np.broadcast_to(REST, (T, 6, 3)).copy()
    kp[:, :, 2] += 2.0 * np.arange(T)[:, None]  # walks forward along +z
    feat, cols, settings = encode_keypoints(kp, heading_joints=(LHIP, RHIP))
    assert keypoints_start_state(kp, settings)[1] == 0.0
    np.testing.assert_allclose(feat[:, :3], [[0, 2, 0]] * T, atol=1e-6)
    turned = np.einsum("ij,tkj->tki", _rot_y(np.array(np.pi / 2)), kp)  # now walks along +x
    assert keypoints_start_state(turned, settings)[1] == pytest.approx(np.pi / 2)
    np.testing.assert_allclose(encode_keypoints(turned, heading_joints=(LHIP, RHIP))[0], feat, atol=1e-5)
    # no heading pair: heading held fixed, steps in world axes, no root_dyaw column
    feat, cols, settings = encode_keypoints(turned, up_axis="y")
    assert cols[:3] == ["root_dx", "root_dz", "root_y"] and settings["heading_joints"] is None
    np.testing.assert_allclose(feat[:, :2], [[2, 0]] * T, atol=1e-6)
    np.testing.assert_allclose(decode_keypoints(feat, settings, start_position=turned[0, 0]), turned, atol=1e-5)
    # z up: forward defaults to y
    zup = kp[..., [0, 2, 1]] * [1, -1, 1]
    _, cols, settings = encode_keypoints(zup, up_axis="z")
    assert settings["forward_axis"] == "y" and cols[:3] == ["root_dx", "root_dy", "root_z"]


def test_keypoints_round_trip_2d_image():
    rng = np.random.default_rng(3)
    kp = rng.normal(size=(30, 4, 2)) + np.cumsum(rng.normal(size=(30, 1, 2)), axis=0) * 10
    feat, cols, settings = encode_keypoints(kp, root_joint=1)
    assert cols == ["root_dx", "root_dy", "j0_x", "j0_y", "j2_x", "j2_y", "j3_x", "j3_y"]
    np.testing.assert_allclose(feat[:-1, :2], np.diff(kp[:, 1], axis=0), atol=1e-5)
    np.testing.assert_allclose(decode_keypoints(feat, settings, start_position=kp[0, 1]), kp, atol=1e-4)
    with pytest.raises(MotionlabError, match="2-D.*no heading"):
        encode_keypoints(kp, heading_joints=(0, 2))


def test_keypoints_encoding_errors():
    kp, _ = turning_walker(T=10)
    with pytest.raises(MotionlabError, match=r"heading_joints: expected a joint index in \[0, 6\), found 9"):
        encode_keypoints(kp, heading_joints=(1, 9))
    with pytest.raises(MotionlabError, match="expected two different joints"):
        encode_keypoints(kp, heading_joints=(1, 1))
    with pytest.raises(MotionlabError, match="up_axis: expected one of x, y, z, found 'w'"):
        encode_keypoints(kp, up_axis="w")
    vertical = kp.copy()
    vertical[:, 4] = vertical[:, 3] + [0, 10, 0]
    with pytest.raises(MotionlabError, match="vertical or coincident in every frame"):
        encode_keypoints(vertical, heading_joints=(3, 4))
    feat, _, settings = encode_keypoints(kp, heading_joints=(LHIP, RHIP))
    with pytest.raises(MotionlabError, match=r"expected features of shape \(frames, 19\).*found \(10, 18\)"):
        decode_keypoints(feat[:, :-1], settings)
    with pytest.raises(MotionlabError, match="settings: expected the dict returned by encode_keypoints"):
        decode_keypoints(feat, {"dims": 3})
    with pytest.raises(MotionlabError, match="start_position: expected 3 coordinates, found 2"):
        decode_keypoints(feat, settings, start_position=[0, 0])


def _dance_takes(real_data):
    root = real_data / "paired" / "dance_with_melody"
    takes = sorted(p.parent for p in root.glob("*/skeletons.json"))
    if not takes:
        pytest.fail(f"MOTIONLAB_REAL_DATA={real_data} is set but {root} holds no */skeletons.json")
    return takes


# Dance with Melody: 23 root-relative joints + "center"; hips 7/16 and shoulders 3/12. The knees bend
# towards up x (p[7] - p[16]), so 16 is the left hip and 12 the left shoulder in a right-handed frame.
DWM_LEFT_HIP, DWM_RIGHT_HIP, DWM_ROOT = 16, 7, 23


def dance_world(take) -> np.ndarray:
    """(T, 24, 3) world positions: the 23 joints (skeletons + center) then the center itself as the root."""
    d = json.loads((take / "skeletons.json").read_text())
    center = np.asarray(d["center"], dtype=np.float64)
    return np.concatenate([np.asarray(d["skeletons"], dtype=np.float64) + center[:, None], center[:, None]], axis=1)


def test_real_dance_with_melody_round_trip(real_data):
    for take in _dance_takes(real_data):
        kp = dance_world(take)
        feat, cols, settings = encode_keypoints(kp, root_joint=DWM_ROOT, up_axis="y", heading_joints=(DWM_LEFT_HIP, DWM_RIGHT_HIP))
        assert feat.shape == (len(kp), 4 + 23 * 3), take.name
        start, heading = keypoints_start_state(kp, settings)
        back = decode_keypoints(feat, settings, start, heading)
        # float32 features integrated over up to ~2500 frames (cm): within 0.05 mm
        assert np.abs(back - kp).max() < 5e-3, take.name
        src_step = np.diff(kp[:, DWM_ROOT], axis=0)
        dec_step = np.diff(decode_keypoints(feat, settings)[:, DWM_ROOT], axis=0)
        np.testing.assert_allclose(np.linalg.norm(dec_step, axis=1), np.linalg.norm(src_step, axis=1), atol=1e-3, err_msg=take.name)
        # the knees bend forward in the heading frame (confirms the left/right assignment)
        rel = feat[:, 4:].reshape(len(kp), 23, 3)
        knee_fwd = rel[:, 8, 2] - (rel[:, 7, 2] + rel[:, 9, 2]) / 2
        assert np.mean(knee_fwd) > 0, take.name


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
