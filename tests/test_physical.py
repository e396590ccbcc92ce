"""Physical foot contact (EDGE's PFC): known answers, a synthetic walker, foot names, the real ZEGGS BVH."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motionlab.analysis.physical import EDGE_REPORT_FACTOR, FootContact, foot_joints, pfc
from motionlab.utils.errors import MotionlabError


def _skeleton(root, left, right):
    """(T, 3, 3) positions: joint 0 root, 1 left foot, 2 right foot (y up)."""
    return np.stack([root, left, right], axis=1).astype(np.float64)


def _line(xs, y=0.0):
    xs = np.asarray(xs, dtype=np.float64)
    return np.stack([xs, np.full_like(xs, y), np.zeros_like(xs)], axis=1)


def test_hand_computed_value():
    # root x 0,0,1,4 at 1 fps: accelerations at frames 1, 2 are 1 and 2 -> normalised 0.5, 1.
    # left foot x 0,0,2,2: steps from frames 1, 2 are 2, 0; right foot x 0,1,2,4: steps 1, 2.
    p = _skeleton(_line([0, 0, 1, 4]), _line([0, 0, 2, 2]), _line([0, 1, 2, 4]))
    assert pfc(p, 1.0, ((1,), (2,)), "y") == pytest.approx((0.5 * 2 * 1 + 1.0 * 0 * 2) / 2)
    # fps scales speeds (x fps each) and the normalised acceleration not at all; metres_per_unit likewise (squared)
    assert pfc(p, 2.0, ((1,), (2,)), "y") == pytest.approx(0.5 * 4)
    assert pfc(p, 1.0, ((1,), (2,)), 1, metres_per_unit=0.1) == pytest.approx(0.5 * 0.01)


def test_matches_edge_reference_formula_at_30_fps():
    """EDGE's eval_pfc.py (re-derived here): 1e4 · mean(â · min-displacement L · min-displacement R), z up."""
    rng = np.random.default_rng(1)
    p = np.cumsum(rng.normal(0, 0.01, (90, 5, 3)), axis=0)
    root_v = (p[1:, 0] - p[:-1, 0]) * 30
    root_a = (root_v[1:] - root_v[:-1]) * 30
    root_a[:, 2] = np.maximum(root_a[:, 2], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    root_a /= root_a.max()
    foot_v = np.linalg.norm(p[2:, 1:5, :2] - p[1:-1, 1:5, :2], axis=-1)
    reference = 1e4 * np.mean(np.minimum(foot_v[:, 0], foot_v[:, 1]) * np.minimum(foot_v[:, 2], foot_v[:, 3]) * root_a)
    assert pfc(p, 30, ((1, 2), (3, 4)), "z") * EDGE_REPORT_FACTOR == pytest.approx(reference, rel=1e-10)


def test_falling_needs_no_contact_but_jumping_does():
    t = np.arange(10, dtype=np.float64)
    sliding = _line(t)  # both feet slide at 1 unit/frame
    fall = np.stack([np.zeros(10), -0.5 * t ** 2, np.zeros(10)], axis=1)  # downward acceleration only
    jump = np.stack([np.zeros(10), 0.5 * t ** 2, np.zeros(10)], axis=1)
    assert pfc(_skeleton(fall, sliding, sliding), 1, ((1,), (2,)), "y") == 0.0
    assert pfc(_skeleton(jump, sliding, sliding), 1, ((1,), (2,)), "y") == pytest.approx(1.0)


def _walker(fps: int = 30, seconds: float = 4.0, step: float = 0.5, slide: bool = False) -> np.ndarray:
    """A root moving forward with a speed that surges each step; feet alternately planted (or sliding along)."""
    t = np.arange(int(seconds * fps)) / fps
    period = 1.0  # one step per foot each second
    root_x = t + 0.05 * np.sin(2 * np.pi * t / (period / 2))  # surging speed: nonzero acceleration
    phase = (t % period) / period
    left_x, right_x = np.empty_like(t), np.empty_like(t)
    for i, (ti, ph) in enumerate(zip(t, phase)):
        k = math.floor(ti / period)
        # left swings in the first half of each period, right in the second; a planted foot does not move
        left_x[i] = k + min(2 * ph, 1.0)
        right_x[i] = k + max(2 * ph - 1.0, 0.0) - 0.5
    if slide:
        left_x, right_x = root_x + 0.1, root_x - 0.1
    root = np.stack([root_x, np.full_like(t, 0.9), np.zeros_like(t)], axis=1)
    left = np.stack([left_x * step * 2, np.zeros_like(t), np.full_like(t, 0.1)], axis=1)
    right = np.stack([right_x * step * 2, np.zeros_like(t), np.full_like(t, -0.1)], axis=1)
    return _skeleton(root, left, right)


def test_planted_walker_scores_better_than_sliding_walker():
    planted, sliding = _walker(), _walker(slide=True)
    feet = ((1,), (2,))
    good, bad = pfc(planted, 30, feet, "y"), pfc(sliding, 30, feet, "y")
    assert good < 0.05 * bad
    assert bad > 0.1  # both feet slide at ~1 m/s while the root accelerates


def test_min_over_foot_joints():
    """A foot whose toe stays planted while the ankle lifts counts as planted (EDGE: min over ankle and toe)."""
    w = _walker(slide=True)
    planted_toe = np.concatenate([w, np.zeros((len(w), 1, 3))], axis=1)  # joint 3: a toe that never moves
    assert pfc(planted_toe, 30, ((1, 3), (2,)), "y") == 0.0
    assert pfc(planted_toe, 30, ((1,), (2,)), "y") > 0.1


def test_accumulator_is_mean_of_sequences():
    seqs = [_walker(), _walker(slide=True), _walker(seconds=3.0, slide=True)]
    m = FootContact(30, ((1,), (2,)), "y")
    for s in seqs:
        m.update(torch.from_numpy(s))
    expected = np.mean([pfc(s, 30, ((1,), (2,)), "y") for s in seqs])
    assert float(m.compute()) == pytest.approx(expected)
    batch = FootContact(30, ((1,), (2,)), "y")
    batch.update(np.stack(seqs[:2]))
    assert float(batch.compute()) == pytest.approx(np.mean([pfc(s, 30, ((1,), (2,)), "y") for s in seqs[:2]]))
    first, second = FootContact(30, ((1,), (2,)), "y"), FootContact(30, ((1,), (2,)), "y")
    first.update(np.stack(seqs[:2]))
    second.update(seqs[2])
    first.merge_state(second)  # what DDP's sum-sync does: two ranks give the one-process mean
    assert float(first.compute()) == pytest.approx(expected)
    with pytest.raises(MotionlabError, match="at least one sequence"):
        FootContact(30, ((1,), (2,)), "y").compute()


@pytest.mark.parametrize(
    "names, expected",
    [
        (["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToeBaseEnd", "RightUpLeg", "RightFoot", "RightToeBase"], ((3, 4), (7, 8))),
        (["mixamorig:Hips", "mixamorig:LeftFoot", "mixamorig:LeftToe_End", "mixamorig:RightFoot"], ((1,), (3,))),
        (["pelvis", "left_ankle", "right_ankle", "left_foot", "right_foot"], ((1, 3), (2, 4))),
        (["root", "l_foot", "r_foot", "l_toes", "r_toes"], ((1, 3), (2, 4))),
        (["Bip01", "Bip01 L Foot", "Bip01 R Foot", "Bip01 L Toe0"], ((1,), (2,))),
    ],
)
def test_foot_joints_by_name(names, expected):
    assert foot_joints(names) == expected


def test_foot_joints_error_names_what_was_looked_for():
    names = ["Hips", "Spine", "LeftFoot", "RightLegEnd"]
    with pytest.raises(MotionlabError) as e:
        foot_joints(names)
    msg = str(e.value)
    assert "right foot" in msg and "rightfoot" in msg and "RightLegEnd" in msg and "Spine" in msg
    assert "left foot" not in msg.split(";")[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positions=np.zeros((10, 3, 2))), "3-D positions"),
        (dict(positions=np.zeros((2, 3, 3))), "at least 3 frames"),
        (dict(up_axis="w"), "up_axis"),
        (dict(feet=((1,), (7,))), "right foot indices"),
        (dict(fps=0), "fps"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(positions=np.zeros((10, 3, 3)), fps=30, feet=((1,), (2,)), up_axis="y") | kwargs
    with pytest.raises(MotionlabError, match=match):
        pfc(**args)


def test_real_zeggs_ground_truth_beats_jittered_root(real_data):
    """ZEGGS BVH (cm, y up, 30 fps): finite PFC, lower than the same take with 1 cm noise on the root translation."""
    from motionlab.feature_extraction.bvh import load_bvh

    motion = load_bvh(real_data / "paired/zeggs_067_speech_2/067_Speech_2_x_1_0.bvh")
    feet = foot_joints(motion.skeleton.names)
    assert [motion.skeleton.names[i] for i in feet[0] + feet[1]] == ["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"]
    positions, fps = motion.positions(), 1.0 / motion.frame_time
    gt = pfc(positions, fps, feet, "y", metres_per_unit=0.01)
    # the root channel carries the whole body: jitter moves every joint by the same noise
    noise = np.random.default_rng(0).normal(0.0, 1.0, (len(positions), 1, 3))
    jittered = pfc(positions + noise, fps, feet, "y", metres_per_unit=0.01)
    print(f"ZEGGS PFC: ground truth {gt:.3g} m²/s², root jittered by 1 cm {jittered:.3g} m²/s²")
    assert math.isfinite(gt) and 0.0 <= gt
    assert gt < 0.1 * jittered
