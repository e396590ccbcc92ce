"""Motion feature pipeline: invertibility on real BVH, mirroring, resampling, persistence.

Real files are reached only through MOTIONLAB_REAL_DATA (skip when unset, mandatory when set).
Only a few hundred frames per file are used so the whole file runs in seconds.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from motionlab.feature_extraction.bvh import Motion, Skeleton, load_bvh, save_bvh
from motionlab.feature_extraction.motion import REPRESENTATIONS, MotionPipeline
from motionlab.feature_extraction.motion_ops import mirror, mirror_pairs, resample, skeleton_height
from conftest import REAL_BVH
from motionlab.utils.errors import MotionlabError

N_FRAMES = 300  # frames per file after resampling


@pytest.fixture(scope="session")
def real_data(real_data) -> Path:
    """conftest's real-data folder, checked to hold every BVH these tests read."""
    root = real_data
    missing = [r for r in REAL_BVH if not (root / r).is_file()]
    if missing:
        pytest.fail(f"MOTIONLAB_REAL_DATA={root} is set but lacks {missing}")
    return root


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Motion:
    return load_bvh(path)


def real_motion(root: Path, rel: str, fps: float | None = None) -> Motion:
    m = _load(str(root / rel))
    stride = 1 if fps is None else max(1, int(round(m.fps / fps)))
    return m.slice(0, N_FRAMES * stride)


# ----------------------------------------------------------------------------- synthetic data


def sym_skeleton() -> Skeleton:
    """A left/right symmetric rig (in x) with mixed rotation orders and a 6-channel non-root joint."""
    names = ["Hips", "Spine", "LeftArm", "LeftHand", "RightArm", "RightHand", "Head", "LeftUpLeg", "RightUpLeg"]
    parents = [-1, 0, 1, 2, 1, 4, 1, 0, 0]
    offsets = [[0, 0, 0], [0, 10, 1], [4, 8, 0], [9, 0, 1], [-4, 8, 0], [-9, 0, 1], [0, 12, 0], [3, -2, 0], [-3, -2, 0]]
    rot = lambda o: [f"{a}rotation" for a in o]  # noqa: E731
    pos = ["Xposition", "Yposition", "Zposition"]
    channels = [pos + rot("ZXY"), rot("ZYX"), rot("ZXY"), pos + rot("XYZ"), rot("YXZ"), pos + rot("XZY"), rot("ZXY"), rot("ZXY"), rot("YZX")]
    ends = {3: [3, 0, 0], 5: [-3, 0, 0], 6: [0, 5, 0], 7: [0, -15, 0], 8: [0, -15, 0]}
    return Skeleton(names, parents, offsets, channels, ends)


def sym_motion(T: int = 60, seed: int = 0, fps: float = 30.0) -> Motion:
    sk = sym_skeleton()
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None] / fps
    freq = rng.uniform(0.2, 1.5, sk.n_channels)
    phase = rng.uniform(0, 2 * np.pi, sk.n_channels)
    amp = rng.uniform(10, 60, sk.n_channels)
    values = amp * np.sin(2 * np.pi * freq * t + phase)
    for j in range(sk.n_joints):
        for col, axis in sk.position_columns(j):
            values[:, col] = sk.offsets[j, axis] + 0.5 * np.sin(t[:, 0] + axis)
    values[:, 0] = 40 * t[:, 0]  # walk along x
    values[:, 1] = 90 + np.sin(3 * t[:, 0])  # root height
    return Motion(sk, values, 1.0 / fps)


def rotate_world(m: Motion, yaw_deg: float, shift) -> Motion:
    """The same motion performed elsewhere, facing elsewhere (root rotated about y and moved)."""
    from scipy.spatial.transform import Rotation

    r = Rotation.from_euler("y", yaw_deg, degrees=True)
    q = m.local_quats()
    q[:, 0] = (r * Rotation.from_quat(q[:, 0])).as_quat()
    root = r.apply(m.translations()[:, 0]) + np.asarray(shift)
    return m.with_rotations(q, root_pos=root)


def max_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


# ----------------------------------------------------------------------------- round trips


def _round_trip_error(m: Motion, rep: str, fps: float | None) -> float:
    pl = MotionPipeline(representation=rep, fps=fps).fit(m)
    feats, cols = pl.transform(m)
    assert feats.dtype == np.float32 and feats.shape[1] == len(cols) and np.isfinite(feats).all()
    ref = pl.resample(m)
    assert feats.shape[0] == ref.n_frames
    start, heading = pl.start_state(m)
    height = skeleton_height(m.skeleton, pl.up_axis)
    if rep == "positions":
        err = max_err(pl.inverse_positions(feats, start, heading), ref.positions())
    else:
        inv = pl.inverse(feats, start, heading)
        assert inv.skeleton.same_layout(m.skeleton) and inv.frame_time == pytest.approx(1 / pl.target_fps)
        err = max_err(inv.positions(), ref.positions())
    return err / height


@pytest.mark.parametrize("rep", REPRESENTATIONS)
@pytest.mark.parametrize(
    "rel, fps", [(r, None) for r in REAL_BVH] + [("bvh/cmu_01_01.bvh", 20.0)], ids=lambda x: str(x).split("/")[-1]
)
def test_real_round_trip(real_data, rel, fps, rep):
    m = real_motion(real_data, rel, fps)
    assert _round_trip_error(m, rep, fps) < 1e-3


def test_real_positions_ik_to_bvh(real_data):
    """The positions representation also inverts to a BVH (rotations solved by bone alignment)."""
    m = real_motion(real_data, "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.bvh").slice(0, 100)
    pl = MotionPipeline("positions").fit(m)
    feats, _ = pl.transform(m)
    inv = pl.inverse(feats, *pl.start_state(m))
    assert max_err(inv.positions(), m.positions()) < 1e-3 * skeleton_height(m.skeleton)


@pytest.mark.parametrize("rep", REPRESENTATIONS)
def test_synthetic_round_trip_non_integer_resample(rep):
    m = sym_motion(T=90, fps=30.0)
    assert _round_trip_error(m, rep, 20.0) < 1e-5


def test_features_invariant_to_start_position_and_heading():
    m = sym_motion()
    pl = MotionPipeline("rot6d").fit(m)
    moved = rotate_world(m, 130.0, [50.0, 0.0, -20.0])
    f0, _ = pl.transform(m)
    f1, _ = pl.transform(moved)
    np.testing.assert_allclose(f1, f0, atol=1e-4)
    # integrating from the moved start reproduces the moved motion
    inv = pl.inverse(f1, *pl.start_state(moved))
    assert max_err(inv.positions(), moved.positions()) < 1e-3


def test_inverse_from_default_start_is_grounded():
    m = sym_motion()
    pl = MotionPipeline("expmap").fit(m)
    f, cols = pl.transform(m)
    inv = pl.inverse(f)
    root = inv.positions()[:, 0]
    assert root[0, 0] == 0 and root[0, 2] == 0
    np.testing.assert_allclose(root[:, 1], m.positions()[:, 0, 1], atol=1e-4)  # height kept
    assert cols[:4] == ["root_vel_x", "root_vel_z", "root_yaw_vel", "root_pos_y"]


def test_constant_columns_removed_and_restored(real_data):
    m = real_motion(real_data, "bvh/cmu_01_01.bvh").slice(0, 120)
    pl = MotionPipeline("expmap").fit(m)
    feats, cols = pl.transform(m)
    assert len(cols) < len(pl.all_columns)
    # CMU's LHipJoint / LeftShoulder channels are all zero in this take
    assert "LHipJoint_expmap_x" not in cols and "LeftShoulder_expmap_y" not in cols
    assert max_err(pl.inverse(feats, *pl.start_state(m)).positions(), m.positions()) < 1e-3


def test_joint_subset():
    m = sym_motion()
    keep = ["Spine", "LeftArm", "LeftHand", "Head"]
    for rep in ("expmap", "positions"):
        pl = MotionPipeline(rep, joints=keep).fit(m)
        feats, cols = pl.transform(m)
        assert not any(c.startswith(("RightArm", "LeftUpLeg")) for c in cols)
        inv = pl.inverse(feats, *pl.start_state(m))
        assert inv.skeleton.same_layout(m.skeleton)
        assert pl.feature_name() == f"bvh_{rep}_cr_30fps_5joints"
        if rep == "positions":
            idx = [m.skeleton.index(n) for n in keep]
            got = pl.inverse_positions(feats, *pl.start_state(m))[:, idx]
            assert max_err(got, m.positions()[:, idx]) < 1e-4
        else:
            # dropped joints hold their fitted mean rotation
            q = inv.local_quats()[:, m.skeleton.index("RightArm")]
            assert np.allclose(np.abs(q @ pl.mean_quats[m.skeleton.index("RightArm")]), 1.0)
    with pytest.raises(MotionlabError, match="NoSuchJoint"):
        MotionPipeline(joints=["NoSuchJoint"]).fit(m)


# ----------------------------------------------------------------------------- resampling


def test_resample_stride_and_slerp():
    m = sym_motion(T=91, fps=60.0)
    s = resample(m, 20.0)
    assert s.n_frames == 31 and s.fps == pytest.approx(20.0)
    np.testing.assert_array_equal(s.values, m.values[::3])
    r = resample(m, 40.0)  # ratio 1.5: interpolated; every other output frame hits a source frame
    assert r.fps == pytest.approx(40.0) and r.n_frames == 61
    np.testing.assert_allclose(r.positions()[::2], m.positions()[::3], atol=1e-9)
    assert resample(m, None) is m


# ----------------------------------------------------------------------------- mirroring


def test_mirror_pairs_common_rigs():
    names = ["Hips", "LHipJoint", "RHipJoint", "LeftUpLeg", "RightUpLeg", "LowerBack", "mixamorig:LeftHand",
             "mixamorig:RightHand", "left_wrist", "right_wrist", "Hand.L", "Hand.R", "l_knee", "r_knee", "Lumbar"]
    perm = mirror_pairs(names)
    pairs = {names[i]: names[p] for i, p in enumerate(perm)}
    assert pairs["LHipJoint"] == "RHipJoint" and pairs["RightUpLeg"] == "LeftUpLeg"
    assert pairs["mixamorig:LeftHand"] == "mixamorig:RightHand"
    assert pairs["left_wrist"] == "right_wrist" and pairs["Hand.R"] == "Hand.L" and pairs["l_knee"] == "r_knee"
    assert pairs["Hips"] == "Hips" and pairs["LowerBack"] == "LowerBack" and pairs["Lumbar"] == "Lumbar"
    custom = mirror_pairs(["A", "B", "C"], {"A": "C"})
    assert custom.tolist() == [2, 1, 0]


def test_mirror_reflects_symmetric_rig_exactly():
    m = sym_motion()
    mm = mirror(m)
    p, q = m.positions(), mm.positions()
    perm = mirror_pairs(m.skeleton.names)
    np.testing.assert_allclose(q, p[:, perm] * [-1, 1, 1], atol=1e-9)
    lh, rh = m.skeleton.index("LeftHand"), m.skeleton.index("RightHand")
    # mirrored left hand, relative to the root, is the original right hand with x negated
    np.testing.assert_allclose(q[:, lh] - q[:, :1, :][:, 0], (p[:, rh] - p[:, 0]) * [-1, 1, 1], atol=1e-9)
    np.testing.assert_allclose(mirror(mm).values, m.values, atol=1e-6)


@pytest.mark.parametrize("rel", ["bvh/cmu_01_01.bvh", "bvh/test_freebvh.bvh", "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.bvh"])
def test_real_mirror_twice_is_identity(real_data, rel):
    m = real_motion(real_data, rel).slice(0, 100)
    mm = mirror(m)
    assert max_err(mirror(mm).positions(), m.positions()) < 1e-6
    perm = mirror_pairs(m.skeleton.names)
    assert (perm != np.arange(len(perm))).sum() >= 14
    # real rigs are only nearly symmetric: the mirrored pose is close to the reflection
    h = skeleton_height(m.skeleton)
    assert max_err(mm.positions(), m.positions()[:, perm] * [-1, 1, 1]) < 0.05 * h


# ----------------------------------------------------------------------------- persistence and errors


def test_save_load_identical_features(tmp_path):
    m = sym_motion()
    for rep in REPRESENTATIONS:
        pl = MotionPipeline(rep, fps=15, joints=["Spine", "LeftArm", "RightArm"]).fit(m)
        path = pl.save(tmp_path / f"pipe_{rep}.json")
        assert path.name == f"pipe_{rep}.json" and (tmp_path / f"pipe_{rep}.npz").is_file()
        meta = json.loads(path.read_text())
        assert meta["feature_name"] == pl.feature_name() == f"bvh_{rep}_cr_15fps_4joints"
        pl2 = MotionPipeline.load(tmp_path / f"pipe_{rep}")  # prefix works too
        f1, c1 = pl.transform(m)
        f2, c2 = pl2.transform(m)
        assert c1 == c2
        np.testing.assert_array_equal(f1, f2)
        # generation needs no source file: the skeleton travels with the pipeline
        out = save_bvh(pl2.inverse(f2), tmp_path / f"gen_{rep}.bvh")
        assert load_bvh(out).skeleton.same_layout(m.skeleton)
        np.testing.assert_allclose(pl2.inverse(f2).values, pl.inverse(f1).values, atol=1e-9)
    with np.load(tmp_path / "pipe_quat.npz", allow_pickle=False) as z:
        assert {"keep", "const_values", "mean_quats", "mean_translations"} <= set(z.files)


def test_real_save_load(real_data, tmp_path):
    m = real_motion(real_data, "bvh/cmu_01_01.bvh", 20.0)
    pl = MotionPipeline("expmap", fps=20).fit(m)
    assert pl.feature_name() == "bvh_expmap_cr_20fps"
    pl2 = MotionPipeline.load(pl.save(tmp_path / "cmu_pipe"))
    np.testing.assert_array_equal(pl.transform(m)[0], pl2.transform(m)[0])


def test_pipeline_errors(tmp_path):
    with pytest.raises(MotionlabError, match="representation"):
        MotionPipeline("euler")
    with pytest.raises(MotionlabError, match="not fitted"):
        MotionPipeline().transform(sym_motion())
    pl = MotionPipeline().fit(sym_motion())
    with pytest.raises(MotionlabError, match=r"expected features of shape \(frames, \d+\), found \(5, 3\)"):
        pl.inverse(np.zeros((5, 3)))
    other = Motion(Skeleton(["A"], [-1], [[0, 0, 0]], [["Zrotation"]]), np.zeros((4, 1)), 0.1)
    with pytest.raises(MotionlabError, match="skeleton differs"):
        pl.transform(other)
    with pytest.raises(MotionlabError, match="fps"):
        MotionPipeline().fit([sym_motion(fps=30), sym_motion(fps=25)])
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(MotionlabError, match="bad.json"):
        MotionPipeline.load(tmp_path / "bad.json")


def test_quaternion_helpers_match_scipy():
    """rotations.quat_* (numpy, broadcasting over (T, J)) agree with scipy's Rotation."""
    from scipy.spatial.transform import Rotation

    from motionlab.feature_extraction.rotations import decode_rotation, encode_rotation, quat_apply, quat_conj, quat_mul

    rng = np.random.default_rng(0)
    a, b = Rotation.random(50, random_state=1), Rotation.random(50, random_state=2)
    v = rng.normal(size=(50, 3))
    np.testing.assert_allclose(Rotation.from_quat(quat_mul(a.as_quat(), b.as_quat())).as_matrix(), (a * b).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(quat_apply(a.as_quat(), v), a.apply(v), atol=1e-12)
    np.testing.assert_allclose(quat_apply(quat_conj(a.as_quat()), a.apply(v)), v, atol=1e-12)
    for rep in ("expmap", "rot6d", "quat"):
        back = Rotation.from_quat(decode_rotation(encode_rotation(a.as_quat(), rep), rep))
        np.testing.assert_allclose(back.as_matrix(), a.as_matrix(), atol=1e-10)
    with pytest.raises(MotionlabError, match="rotation encoding"):
        encode_rotation(a.as_quat(), "euler")
