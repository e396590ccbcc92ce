"""BVH parsing, forward kinematics, saving and error messages.

Real files are reached only through MOTIONLAB_REAL_DATA: unset -> those tests skip; set -> they are
mandatory and fail when a file is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motionlab.feature_extraction import bvh
from motionlab.feature_extraction.bvh import Motion, Skeleton, load_bvh, save_bvh
from conftest import REAL_BVH
from motionlab.utils.errors import MotionlabError



SMALL = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 0.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Chest
\t{
\t\tOFFSET 0.0 10.0 0.0
\t\tCHANNELS 3 Yrotation Xrotation Zrotation
\t\tJOINT Slider
\t\t{
\t\t\tOFFSET 1.0 2.0 3.0
\t\t\tCHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.0 5.0 0.0
\t\t\t}
\t\t}
\t}
\tJOINT Leg
\t{
\t\tOFFSET 2.0 -1.0 0.0
\t\tCHANNELS 3 Xrotation Zrotation Yrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0.0 -8.0 0.0
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.0333333
1 2 3 10 20 30 5 6 7 0.5 0.25 4 11 12 13 1 2 3
1.5 2 3 11 21 31 5 6 7 0.5 0.25 4 11 12 13 1 2 3
2 2 3 12 22 32 5 6 7 0.5 0.25 4 11 12 13 1 2 3
"""


def write(tmp_path: Path, text: str, name: str = "m.bvh") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def two_joint(tmp_path: Path, channels: str, values: str, child_offset: str = "1 0 0") -> Motion:
    text = f"""HIERARCHY
ROOT A
{{
  OFFSET 0 0 0
  CHANNELS {len(channels.split())} {channels}
  JOINT B
  {{
    OFFSET {child_offset}
    CHANNELS 0
    End Site
    {{
      OFFSET 1 0 0
    }}
  }}
}}
MOTION
Frames: 1
Frame Time: 0.1
{values}
"""
    return load_bvh(write(tmp_path, text))


# ----------------------------------------------------------------------------- parsing and FK


def test_small_file_layout(tmp_path):
    m = load_bvh(write(tmp_path, SMALL))
    sk = m.skeleton
    assert sk.names == ["Hips", "Chest", "Slider", "Leg"]
    assert sk.parents.tolist() == [-1, 0, 1, 0]
    assert sk.channels[2][:3] == ["Xposition", "Yposition", "Zposition"]
    assert sk.rotation_order(0) == "ZXY" and sk.rotation_order(1) == "YXZ" and sk.rotation_order(3) == "XZY"
    assert set(sk.end_sites) == {2, 3}
    np.testing.assert_allclose(sk.end_sites[3], [0, -8, 0])
    assert m.values.shape == (3, 18) and m.n_frames == 3
    assert m.fps == pytest.approx(30.0, rel=1e-5)
    assert m.rotations().shape == (3, 4)


def test_fk_hand_case_90deg_z(tmp_path):
    m = two_joint(tmp_path, "Zrotation", "90")
    np.testing.assert_allclose(m.positions()[0], [[0, 0, 0], [0, 1, 0]], atol=1e-12)


def test_fk_intrinsic_order(tmp_path):
    # 'Zrotation Xrotation' = Rz(90) @ Rx(90): (0,0,1) -Rx-> (0,-1,0) -Rz-> (1,0,0).
    # (Extrinsic order would give (0,-1,0) instead.)
    m = two_joint(tmp_path, "Zrotation Xrotation", "90 90", child_offset="0 0 1")
    np.testing.assert_allclose(m.positions()[0, 1], [1, 0, 0], atol=1e-12)


def test_fk_position_channels(tmp_path):
    """Root position channels give the translation; a non-root joint's replace its OFFSET."""
    m = load_bvh(write(tmp_path, SMALL))
    pos = m.positions()
    np.testing.assert_allclose(pos[:, 0], [[1, 2, 3], [1.5, 2, 3], [2, 2, 3]])
    q = m.local_quats()
    chest = pos[:, 0] + Rotation.from_quat(q[:, 0]).apply([0, 10, 0])
    np.testing.assert_allclose(pos[:, 1], chest)
    slider = chest + Rotation.from_quat(q[:, 0]).apply(Rotation.from_quat(q[:, 1]).apply([0.5, 0.25, 4]))
    np.testing.assert_allclose(pos[:, 2], slider)


def test_with_rotations_reproduces_values(tmp_path):
    m = load_bvh(write(tmp_path, SMALL))
    m2 = m.with_rotations(m.rotations())
    np.testing.assert_allclose(m2.values, m.values, atol=1e-9)
    moved = m.with_rotations(m.local_quats(), root_pos=np.zeros((3, 3)))
    np.testing.assert_allclose(moved.positions()[:, 0], 0.0)


def test_save_reload_reproduces_file(tmp_path):
    m = load_bvh(write(tmp_path, SMALL))
    out = save_bvh(m, tmp_path / "out.bvh")
    m2 = load_bvh(out)
    assert m2.skeleton.to_dict() == m.skeleton.to_dict()
    np.testing.assert_allclose(m2.values, m.values, atol=1e-6)
    assert m2.frame_time == m.frame_time
    save_bvh(m2, tmp_path / "out2.bvh")
    assert (tmp_path / "out2.bvh").read_text() == out.read_text()


def test_zero_frames_and_tolerant_whitespace(tmp_path):
    text = SMALL.split("MOTION")[0].replace("\t", "   ") + "MOTION\nFrames:\t0\nFrame Time:\t0.01\n\n"
    m = load_bvh(write(tmp_path, text))
    assert m.values.shape == (0, 18)


# ----------------------------------------------------------------------------- bad input


def _motion_part(rows: list[str], frames: int | None = None) -> str:
    head = SMALL.split("MOTION")[0]
    return head + f"MOTION\nFrames: {len(rows) if frames is None else frames}\nFrame Time: 0.0333333\n" + "\n".join(rows) + "\n"


ROW = "1 2 3 10 20 30 5 6 7 0.5 0.25 4 11 12 13 1 2 3"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ["empty file"]),
        ("   \n\n", ["empty file"]),
        (_motion_part([ROW, ROW], frames=5), ["truncated", "Frames: 5", "only 2 rows"]),
        (_motion_part([ROW, ROW + " 4", ROW]), ["frame 1", "expected 18 values", "found 19"]),
        (_motion_part([ROW, ROW.rsplit(" ", 3)[0]]), ["frame 1", "expected 18", "found 15", "truncated"]),
        (_motion_part([ROW, ROW.replace("0.25", "abc")]), ["frame 1", "non-numeric", "'abc'"]),
        (_motion_part([ROW]).replace("Xrotation Zrotation Yrotation", "Wrotation Zrotation Yrotation"),
         ["unknown channel 'Wrotation'", "Leg"]),
        (SMALL.split("\tJOINT Leg")[0], ["unclosed", "truncated"]),
        (SMALL.split("MOTION")[0], ["missing MOTION"]),
        (SMALL.replace("HIERARCHY", "HIERARCHIE"), ["HIERARCHY"]),
        (SMALL.replace("\t}\n\tJOINT Leg", "\t}\n\t}\n\tJOINT Leg"), ["JOINT outside"]),
        (SMALL.replace("OFFSET 2.0 -1.0 0.0", "OFFSET 2.0 -1.0"), ["OFFSET expects 3 numbers"]),
        (SMALL.replace("Frame Time: 0.0333333", "Frame Time: 0"), ["Frame Time", "> 0"]),
        (_motion_part([ROW, ROW.replace("0.25", "nan")]), ["frame 1", "non-finite"]),
        (_motion_part([ROW, ROW, ROW], frames=2), ["Frames: 2", "3 rows"]),
    ],
)
def test_bad_input_messages(tmp_path, text, expected):
    path = write(tmp_path, text, name="broken_take.bvh")
    with pytest.raises(MotionlabError) as e:
        load_bvh(path)
    msg = str(e.value)
    assert "broken_take.bvh" in msg
    for part in expected:
        assert part in msg, msg


def test_missing_file(tmp_path):
    with pytest.raises(MotionlabError, match="nope.bvh: file not found"):
        load_bvh(tmp_path / "nope.bvh")


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    m = load_bvh(write(tmp_path, SMALL))
    target = tmp_path / "take.bvh"
    target.write_text("old content\n")

    def failing_rows(values, chunk=512):
        yield "1 2 3\n"
        raise OSError("disk full")

    monkeypatch.setattr(bvh, "_format_rows", failing_rows)
    with pytest.raises(OSError, match="disk full"):
        save_bvh(m, target)
    assert target.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bvh", "take.bvh"]


def test_save_refuses_nan(tmp_path):
    m = load_bvh(write(tmp_path, SMALL))
    m.values[1, 4] = np.nan
    with pytest.raises(MotionlabError, match="non-finite"):
        save_bvh(m, tmp_path / "x.bvh")
    assert not (tmp_path / "x.bvh").exists()


def test_skeleton_dict_round_trip(tmp_path):
    sk = load_bvh(write(tmp_path, SMALL)).skeleton
    sk2 = Skeleton.from_dict(sk.to_dict())
    assert sk2.same_layout(sk) and sk2.to_dict() == sk.to_dict()


# ----------------------------------------------------------------------------- real files


def test_real_files_load_save_reload(real_data, tmp_path):
    files = sorted(real_data.rglob("*.bvh"))
    assert {str(f.relative_to(real_data)) for f in files} >= set(REAL_BVH)
    for i, f in enumerate(files):
        m = load_bvh(f)
        assert m.n_frames > 0 and np.isfinite(m.values).all(), f
        out = save_bvh(m, tmp_path / f"{i}.bvh")
        m2 = load_bvh(out)
        assert m2.skeleton.same_layout(m.skeleton), f
        assert m2.skeleton.end_sites.keys() == m.skeleton.end_sites.keys(), f
        np.testing.assert_allclose(m2.skeleton.offsets, m.skeleton.offsets, atol=1e-4, err_msg=str(f))
        assert m2.n_frames == m.n_frames, f
        assert m2.frame_time == pytest.approx(m.frame_time, rel=1e-9), f
        np.testing.assert_allclose(m2.values, m.values, atol=1e-4, err_msg=str(f))


def test_real_known_layouts(real_data):
    m = load_bvh(real_data / "bvh/cmu_01_01.bvh")
    assert (m.skeleton.n_joints, m.skeleton.n_channels, m.n_frames) == (31, 96, 2752)
    assert m.fps == pytest.approx(120, rel=1e-4)
    z = load_bvh(real_data / "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.bvh")
    assert (z.skeleton.n_joints, z.skeleton.n_channels, z.n_frames) == (75, 228, 2065)
    assert z.fps == pytest.approx(30)


def test_skeleton_must_be_depth_first():
    with pytest.raises(MotionlabError, match="depth-first"):
        Skeleton(["R", "A", "B", "A1"], [-1, 0, 0, 1], np.zeros((4, 3)), [[], [], [], []])
    Skeleton(["R", "A", "A1", "B"], [-1, 0, 1, 0], np.zeros((4, 3)), [[], [], [], []])
