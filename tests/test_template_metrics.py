"""SDT's metrics: FTD (Fréchet distance of a pose2pose VAE's μ) through the FGD machinery, and the
lip-sync error on hand-made mouth openings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlab.analysis import metrics as M
from motionlab.utils.errors import MotionlabError


def test_frechet_distance_of_codes_zero_for_identical_sets_and_grows_with_shift():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 8))
    values = []
    for shift in (0.0, 0.5, 1.0, 2.0):
        m = M.FrechetDistance()
        m.update(z + shift, z)
        values.append(float(m.compute()))
    assert values[0] == pytest.approx(0.0, abs=1e-8)
    # a mean shift s in every one of 8 dims adds exactly 8 s² (same covariance)
    np.testing.assert_allclose(values[1:], [8 * 0.25, 8 * 1.0, 8 * 4.0], rtol=1e-6)


def mouth(openings, joints=137):
    """(T, joints, 2) positions whose three inner-lip pairs are `openings` apart vertically."""
    o = np.asarray(openings, dtype=np.float64)
    x = np.zeros((len(o), joints, 2))
    for up, lo in M.SDT_INNER_LIP_PAIRS:
        x[:, up, 0] = x[:, lo, 0] = up
        x[:, lo, 1] = o
    return x


def test_lip_sync_error_exact_on_hand_made_openings():
    m = M.LipSyncError()
    gt, pred = [0.0, 1.0, 2.0, 4.0], [0.0, 2.0, 2.0, 1.0]
    m.update(mouth(pred), mouth(gt))
    assert float(m.compute()) == pytest.approx((0 + 1 + 0 + 3) / 4 / 4.0)
    # a second clip at twice the scale with the same relative error leaves the mean unchanged
    m.update(mouth(np.array(pred) * 2), mouth(np.array(gt) * 2))
    assert float(m.compute()) == pytest.approx(0.25)
    np.testing.assert_allclose(M.LipSyncError().opening(torch.as_tensor(mouth(gt))[None])[0].numpy(), gt)


def test_lip_sync_error_refuses_layouts_without_lips_and_closed_mouths():
    m = M.LipSyncError()
    with pytest.raises(MotionlabError, match="lip pairs name joint 92 but the positions have 25 joints"):
        m.update(np.zeros((5, 25, 2)), np.zeros((5, 25, 2)))
    with pytest.raises(MotionlabError, match="never opens its mouth"):
        m.update(mouth([0.0, 0.0]), mouth([0.0, 0.0]))
    with pytest.raises(MotionlabError, match="pairs must be a non-empty list"):
        M.LipSyncError(pairs=[])


def test_sdt_hierarchy_round_trip_and_anchors():
    from motionlab.feature_extraction.keypoints import hierarchy_forward, hierarchy_inverse

    rng = np.random.default_rng(0)
    kp = rng.standard_normal((5, 137, 2))
    h = hierarchy_forward(kp)
    np.testing.assert_allclose(hierarchy_inverse(h), kp, atol=1e-12)
    np.testing.assert_allclose(h[:, 100], kp[:, 100] - kp[:, 7])  # left hand point - left wrist
    np.testing.assert_allclose(h[:, 130], kp[:, 130] - kp[:, 4])  # right hand point - right wrist
    np.testing.assert_allclose(h[:, 25 + 62], kp[:, 25 + 62] - kp[:, 55])  # face point - nose tip
    np.testing.assert_array_equal(h[:, [0, 4, 7, 55]], kp[:, [0, 4, 7, 55]])  # body and anchors untouched
    with pytest.raises(MotionlabError, match="needs 137 points .* got 25"):
        hierarchy_forward(np.zeros((3, 25, 2)))
