"""Motion metrics (motionlab.analysis.metrics): known answers, batch accumulation, 2-process DDP."""

from __future__ import annotations

import json
import os
import socket
import warnings

import numpy as np
import pytest
import torch

from motionlab.analysis import metrics as M
from motionlab.utils.errors import MotionlabError

FPS = 10.0


def _value(metric):
    out = metric.compute()
    if isinstance(out, dict):
        return {k: float(v) for k, v in out.items()}
    return float(out)


def _assert_close(a, b, rel=1e-9, abs_=1e-12):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=rel, abs=abs_), k
    else:
        assert a == pytest.approx(b, rel=rel, abs=abs_)


# ------------------------------------------------------------------ helpers: finite differences

def test_speed_acceleration_jerk_of_polynomials_in_numpy_and_torch():
    t = np.arange(12) / FPS
    direction = np.array([3.0, 4.0, 0.0]) / 5.0  # unit vector
    lin = (2.0 * t)[:, None, None] * direction  # 2 units/s
    quad = (t ** 2)[:, None, None] * direction  # acc 2 units/s²
    cub = (t ** 3)[:, None, None] * direction  # jerk 6 units/s³
    np.testing.assert_allclose(M.speed(lin, FPS), 2.0)
    assert M.speed(lin, FPS).shape == (11, 1)
    np.testing.assert_allclose(M.acceleration(quad, FPS), 2.0)
    np.testing.assert_allclose(M.jerk(cub, FPS), 6.0)
    out = M.jerk(torch.from_numpy(np.stack([cub, 2 * cub])), FPS)  # batch dims pass through, torch stays torch
    assert isinstance(out, torch.Tensor) and out.shape == (2, 9, 1)
    np.testing.assert_allclose(out.numpy(), [[[6.0]] * 9, [[12.0]] * 9])
    with pytest.raises(MotionlabError, match=r"\(\.\.\., T, J, D\)"):
        M.speed(np.zeros((5, 4)), FPS)


# ------------------------------------------------------------------ reconstruction

def test_l1_mse_mpjpe_known_offsets():
    y = np.random.default_rng(0).normal(size=(2, 7, 5, 3))
    offset = np.array([1.0, 2.0, 2.0])  # length 3
    for cls, expected in ((M.L1, 5.0 / 3), (M.MSE, 9.0 / 3), (M.MPJPE, 3.0)):
        m = cls()
        m.update(y + offset, y)
        assert float(m.compute()) == pytest.approx(expected, rel=1e-12), cls.__name__
    m = M.MPJPE()
    with pytest.raises(MotionlabError, match=r"same shape.*\(2, 7, 5, 3\).*\(2, 7, 4, 3\)"):
        m.update(y, y[:, :, :4])


def _square_frame(d: int) -> np.ndarray:
    """GT frame whose bounding box's largest extent is 10 (2-D: along x) or 14 (3-D: along z)."""
    joints = np.zeros((4, d))
    joints[1, 0] = 10.0
    joints[2, 1] = 6.0
    if d == 3:
        joints[3, 2] = 14.0
    return joints


@pytest.mark.parametrize("d, on_boundary, inside", [
    (2, [3.0, 4.0], [3.0, 3.9]),  # threshold 0.5 * 10 = 5 = |(3, 4)|
    (3, [2.0, 3.0, 6.0], [2.0, 3.0, 5.9]),  # threshold 0.5 * 14 (the z extent) = 7 = |(2, 3, 6)|
])
def test_pck_hit_miss_boundary(d, on_boundary, inside):
    alpha = 0.5
    y = _square_frame(d)[None]  # (T=1, J=4, D)
    for offset, expected_hits in ((on_boundary, 0), (inside, 4)):
        m = M.PCK(alpha=alpha)
        m.update(y + np.asarray(offset), y)
        assert float(m.compute()) == pytest.approx(expected_hits / 4), offset
    # Mixed: two joints on the boundary (miss), one inside, one exact (hit) -> 2 / 4; a second frame of
    # all hits counts the same as the first (a plain average over all joints and frames).
    pred = y.copy()
    pred[0, 0] += on_boundary
    pred[0, 1] += on_boundary
    pred[0, 2] += inside
    m = M.PCK(alpha=alpha)
    m.update(pred, y)
    assert float(m.compute()) == pytest.approx(0.5)
    m.update(np.repeat(y, 3, axis=0), np.repeat(y, 3, axis=0))
    assert float(m.compute()) == pytest.approx((2 + 12) / 16)


def test_pck_threshold_follows_each_frames_bbox():
    y = np.stack([_square_frame(2), 3 * _square_frame(2)])  # extents 10 and 30
    pred = y + np.array([6.0, 0.0])  # miss in frame 0 (6 >= 5), hit in frame 1 (6 < 15)
    m = M.PCK(alpha=0.5)
    m.update(pred, y)
    assert float(m.compute()) == pytest.approx(0.5)


# ------------------------------------------------------------------ Fréchet distance

def _whitened(rng, n, d):
    """n samples whose sample mean is exactly 0 and unbiased sample covariance exactly I."""
    x = rng.normal(size=(n, d))
    x -= x.mean(0)
    return x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T


def test_frechet_identical_sets_is_zero():
    x = np.random.default_rng(1).normal(size=(300, 6)) @ np.random.default_rng(2).normal(size=(6, 6))
    m = M.FrechetDistance()
    m.update(x, x)
    assert float(m.compute()) == pytest.approx(0.0, abs=1e-8)


def test_frechet_closed_form_for_isotropic_gaussians():
    rng = np.random.default_rng(3)
    d, s1, s2 = 5, 1.5, 0.5
    mu1, mu2 = np.zeros(d), np.full(d, 2.0)
    a = mu1 + s1 * _whitened(rng, 400, d)
    b = mu2 + s2 * _whitened(rng, 300, d)
    m = M.FrechetDistance()
    m.update(a, b)
    expected = np.sum((mu1 - mu2) ** 2) + d * (s1 - s2) ** 2  # 20 + 5
    assert float(m.compute()) == pytest.approx(expected, rel=1e-9)
    # normalize=True: z-normalised by the real set (target b): mean gap / s2, covariance ratio (s1/s2)².
    m = M.FrechetDistance(normalize=True)
    m.update(a, b)
    assert float(m.compute()) == pytest.approx(np.sum((mu1 - mu2) ** 2) / s2 ** 2 + d * (s1 / s2 - 1) ** 2, rel=1e-9)


def test_frechet_matches_scipy_sqrtm_reference_for_general_covariances():
    from scipy import linalg

    rng = np.random.default_rng(4)
    a = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) + 1.0
    b = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    reference = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    m = M.FrechetDistance()
    m.update(torch.from_numpy(a).float(), b)  # float32 input is accumulated in float64
    assert float(m.compute()) == pytest.approx(reference, rel=1e-5)


def test_frechet_of_samples_from_known_gaussians():
    rng = np.random.default_rng(5)
    d = 3
    a = rng.normal(size=(20000, d)) * 2.0 + 1.0
    b = rng.normal(size=(20000, d))
    m = M.FrechetDistance()
    m.update(a, b)
    assert float(m.compute()) == pytest.approx(d * 1.0 + d * (2.0 - 1.0) ** 2, rel=0.05)  # 6


def test_frechet_positions_frame_ndim_and_errors():
    x = np.random.default_rng(6).normal(size=(2, 30, 4, 3))
    m = M.FrechetDistance(frame_ndim=2)
    m.update(x, x + 1.0)  # 12-d pose vectors, shift 1 each -> 12
    assert float(m.compute()) == pytest.approx(12.0, rel=1e-9)
    m = M.FrechetDistance()
    with pytest.raises(MotionlabError, match="same size, got 3 and 2"):
        m.update(np.zeros((5, 3)), np.zeros((5, 2)))
    m.update(np.ones((4, 3)))
    with pytest.raises(MotionlabError, match="at least 2 target vectors"):
        m.compute()


def test_kinetic_fid_features_and_value():
    m = M.KineticFID(fps=FPS, window=5)
    t = np.arange(10) / FPS
    pos = np.zeros((10, 2, 3))
    pos[:, 0, 0] = 3.0 * t  # joint 0: constant speed 3 units/s, no acceleration
    pos[:, 1, 1] = t ** 2  # joint 1: acceleration 2 units/s², speed grows
    f = m.kinetic_features(torch.from_numpy(pos)[None]).numpy()
    assert f.shape == (2, 8)  # two non-overlapping windows of 5, features [v mean, v std, a mean, a std] x 2 joints
    v1 = [np.diff(t[i:i + 5] ** 2).mean() * FPS for i in (0, 5)]
    np.testing.assert_allclose(f[:, [0, 2, 4, 6]], [[3.0, 0.0, 0.0, 0.0]] * 2, atol=1e-9)
    np.testing.assert_allclose(f[:, 1], v1)
    np.testing.assert_allclose(f[:, 5], 2.0)
    rng = np.random.default_rng(7)
    real = rng.normal(size=(6, 40, 3, 3)).cumsum(1)
    m.update(real, real)
    assert float(m.compute()) == pytest.approx(0.0, abs=1e-8)


# ------------------------------------------------------------------ histograms

def _constant_velocity(step, frames=8, joints=2):
    """Every joint moves along x by ``step`` per frame: speed step * FPS, acceleration 0."""
    pos = np.zeros((frames, joints, 3))
    pos[:, :, 0] = (np.arange(frames) * step)[:, None]
    return pos


def test_histogram_functions_known_answers():
    edges = np.arange(6.0)  # five unit bins, centres 0.5 .. 4.5
    one_hot = np.eye(5)
    assert M.histogram_w1(one_hot[2], one_hot[4], edges) == pytest.approx(2.0)
    assert M.histogram_w1(one_hot[1], 3 * one_hot[1], edges) == 0.0  # normalised first
    assert M.histogram_w1([1, 0, 0, 0, 1], [0, 0, 2, 0, 0], edges) == pytest.approx(2.0)
    assert M.histogram_hellinger(one_hot[0], one_hot[3]) == pytest.approx(1.0)
    assert M.histogram_hellinger([1, 2, 0, 0, 0], [2, 4, 0, 0, 0]) == pytest.approx(0.0, abs=1e-12)
    assert M.histogram_hellinger([1, 1, 0, 0, 0], [0, 1, 1, 0, 0]) == pytest.approx(np.sqrt(0.5))


def test_speed_w1_and_hellinger_of_known_speeds():
    edges = np.arange(6.0)
    pred, target = _constant_velocity(0.25), _constant_velocity(0.45)  # 2.5 and 4.5 units/s: bins 2 and 4
    w1 = M.SpeedW1(fps=FPS, bins=edges)
    w1.update(pred, target)
    assert float(w1.compute()) == pytest.approx(2.0)
    assert w1.pred_hist.tolist() == [0, 0, 7, 0, 0] and w1.target_hist.tolist() == [0, 0, 0, 0, 7]
    h = M.SpeedHellinger(fps=FPS, bins=edges)
    h.update(pred, target)
    assert float(h.compute()) == pytest.approx(1.0)
    h = M.SpeedHellinger(fps=FPS, bins=edges)
    h.update(pred, pred)
    assert float(h.compute()) == pytest.approx(0.0, abs=1e-12)
    # Out of range (9 units/s) is counted in the last bin and reported.
    w1 = M.SpeedW1(fps=FPS, bins=edges)
    w1.update(_constant_velocity(0.9), target)
    assert float(w1.compute()) == pytest.approx(0.0) and float(w1.pred_outside) == 7


def test_acceleration_w1_of_known_accelerations():
    t = np.arange(6) / FPS
    a2 = np.zeros((6, 1, 2))
    a2[:, 0, 0] = t ** 2  # acceleration 2
    m = M.AccelerationW1(fps=FPS, bins=np.arange(0.0, 10.0, 2.0))  # bins [0,2) [2,4) [4,6) [6,8)
    m.update(3 * a2, a2)  # 6 vs 2: bins 3 and 1, centres 7 and 3
    assert float(m.compute()) == pytest.approx(4.0)


# ------------------------------------------------------------------ spatial norm, diversity, jerk, F1, NLL

def _at_distance(r, frames=3, joints=2):
    """Every joint at distance r from the origin (along varying unit directions)."""
    angles = np.arange(frames * joints).reshape(frames, joints)
    return r * np.stack([np.cos(angles), np.sin(angles)], -1)


def test_spatial_norm_known_value_and_denominator_per_evaluation():
    mean_pose = np.zeros((2, 2))
    m = M.SpatialNorm(mean_pose)
    m.update(_at_distance(1.5), _at_distance(1.0))
    assert float(m.compute()) == pytest.approx(0.5)  # RMS(0.5) / RMS(1)
    m.reset()
    m.update(_at_distance(2.5), _at_distance(2.0))
    assert float(m.compute()) == pytest.approx(0.25)  # not 0.5 / RMS over both evaluations
    m.update(_at_distance(4.0, frames=1), _at_distance(2.0, frames=1))
    assert float(m.compute()) == pytest.approx(np.sqrt((3 * 0.25 + 4.0) / (4 * 4.0)))


def test_diversity_known_pairwise_distances():
    # Three sequences of 4 frames, each constant: clips of window 2 -> 2 identical clips per sequence.
    levels = np.array([0.0, 3.0, 7.0])
    x = np.broadcast_to(levels[:, None, None, None], (3, 4, 1, 2)).copy()
    m = M.Diversity(window=2)
    m.update(x)
    # 6 clips of 4 values; distance between levels a, b: |a - b| * 2; pairs: within (3) 0, across 12 pairs
    dists = [abs(a - b) * 2 for a in levels for b in levels if a < b]
    assert float(m.compute()) == pytest.approx(4 * sum(dists) / 15)


def test_sample_diversity_of_known_samples():
    base = np.zeros((3, 6, 2, 2))  # K = 3 samples, T = 6
    base[1] += 1.0  # each frame shifted by (1, 1) at 2 joints: per frame 2 units, 4 values of 1
    base[2] += 2.0
    m = M.SampleDiversity(window=3)
    m.update(base)
    # clip of 3 frames = 12 values; pair distances: sqrt(12) * {1, 2, 1}
    assert float(m.compute()) == pytest.approx(np.sqrt(12) * 4 / 3)
    with pytest.raises(MotionlabError, match="K >= 2"):
        m.update(base[:1])


@pytest.mark.parametrize("power, quantity, factor", [(2, "acceleration", 4.0), (3, "jerk", 8.0)])
def test_jerk_stats_ratios(power, quantity, factor):
    frames = np.arange(20)
    direction = np.array([1.0, -2.0, 2.0])
    target = ((frames / FPS) ** power)[:, None, None] * direction  # t^n along a fixed direction
    faster = ((2 * frames / FPS) ** power)[:, None, None] * direction  # the same motion played 2x as fast
    m = M.JerkStats(fps=FPS)
    m.update(target, target)
    out = m.compute()
    assert float(out["acceleration_ratio"]) == pytest.approx(1.0) and float(out["jerk_ratio"]) == pytest.approx(1.0)
    m = M.JerkStats(fps=FPS)
    m.update(faster, target)
    assert float(m.compute()[f"{quantity}_ratio"]) == pytest.approx(factor, rel=1e-9)
    if power == 3:
        assert float(m.compute()["jerk_target"]) == pytest.approx(6.0 * 3.0, rel=1e-9)  # |direction| = 3


def test_cluster_f1_matches_sklearn_weighted_f1():
    from sklearn.metrics import f1_score

    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    true_labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred_labels = np.array([0, 1, 0, 1, 1, 2, 0, 2, 1])
    rng = np.random.default_rng(8)
    target = centroids[true_labels] + rng.uniform(-1, 1, size=(9, 2))
    pred = centroids[pred_labels] + rng.uniform(-1, 1, size=(9, 2))
    m = M.ClusterF1(centroids)
    m.update(pred, target)
    assert float(m.compute()) == pytest.approx(f1_score(true_labels, pred_labels, average="weighted"), rel=1e-12)
    m = M.ClusterF1(centroids)
    m.update(target, target)
    assert float(m.compute()) == pytest.approx(1.0)


def test_fit_pose_clusters_finds_separated_clusters():
    rng = np.random.default_rng(9)
    centres = np.array([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 20.0, 0.0]])
    frames = (centres[rng.integers(0, 3, 300)] + rng.normal(size=(300, 3))).reshape(300, 1, 3)
    found = M.fit_pose_clusters(frames, k=3, seed=0)
    assert found.shape == (3, 3)
    assert np.abs(np.sort(found[:, 0]) - [0, 0, 20]).max() < 0.5


def test_nll_weighted_mean():
    m = M.NLL()
    m.update(torch.tensor([1.0, 3.0]))
    m.update(torch.tensor(5.0), weight=2.0)
    assert float(m.compute()) == pytest.approx((1 + 3 + 10) / 4)
    with pytest.raises(MotionlabError, match="does not broadcast"):
        m.update(torch.ones(3), weight=torch.ones(2))


# ------------------------------------------------------------------ accumulation over uneven batches

_RNG = np.random.default_rng(10)
_POS_PRED = _RNG.normal(size=(6, 24, 4, 3)).cumsum(1)  # (B, T, J, D) random walks
_POS_GT = _RNG.normal(size=(6, 24, 4, 3)).cumsum(1)
_FEAT_PRED = _RNG.normal(size=(6, 24, 5))
_FEAT_GT = _RNG.normal(size=(6, 24, 5))
_SAMPLES = _RNG.normal(size=(6, 3, 12, 4, 3))  # (N inputs, K samples, T, J, D)
_NLL = (_RNG.normal(size=6), _RNG.uniform(1, 5, size=6))
_BINS = np.linspace(0, 60, 31)

CASES = {
    "L1": (M.L1, (_FEAT_PRED, _FEAT_GT)),
    "MSE": (M.MSE, (_FEAT_PRED, _FEAT_GT)),
    "MPJPE": (M.MPJPE, (_POS_PRED, _POS_GT)),
    "PCK": (lambda: M.PCK(alpha=0.2), (_POS_PRED, _POS_GT)),
    "FrechetDistance": (M.FrechetDistance, (_FEAT_PRED, _FEAT_GT)),
    "FrechetDistance-normalized-poses": (lambda: M.FrechetDistance(normalize=True, frame_ndim=2), (_POS_PRED, _POS_GT)),
    "KineticFID": (lambda: M.KineticFID(fps=FPS, window=6), (_POS_PRED, _POS_GT)),
    "SpeedW1": (lambda: M.SpeedW1(fps=FPS, bins=_BINS), (_POS_PRED, _POS_GT)),
    "AccelerationW1": (lambda: M.AccelerationW1(fps=FPS, bins=10 * _BINS), (_POS_PRED, _POS_GT)),
    "SpeedHellinger": (lambda: M.SpeedHellinger(fps=FPS, bins=_BINS), (_POS_PRED, _POS_GT)),
    "SpatialNorm": (lambda: M.SpatialNorm(_POS_GT.mean((0, 1))), (_POS_PRED, _POS_GT)),
    "Diversity": (lambda: M.Diversity(window=8), (_POS_PRED, _POS_GT)),
    "SampleDiversity": (lambda: M.SampleDiversity(window=5), (_SAMPLES,)),
    "JerkStats": (lambda: M.JerkStats(fps=FPS), (_POS_PRED, _POS_GT)),
    "ClusterF1": (lambda: M.ClusterF1(_FEAT_GT[:2].reshape(-1, 5)[::6]), (_FEAT_PRED, _FEAT_GT)),
    "NLL": (M.NLL, _NLL),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_uneven_batches_equal_one_shot(name):
    factory, data = CASES[name]
    one_shot = factory()
    one_shot.update(*data)
    expected = _value(one_shot)
    accumulated = factory()
    start = 0
    for size in (1, 3, 2):  # a single sequence without its batch dim, then uneven batches
        chunk = [x[start:start + size] for x in data]
        accumulated.update(*([x[0] for x in chunk] if size == 1 else [torch.from_numpy(x) for x in chunk]))
        start += size
    _assert_close(_value(accumulated), expected)
    accumulated.reset()  # reset forgets everything: a different evaluation gives its own value
    accumulated.update(*[x[3:] for x in data])
    fresh = factory()
    fresh.update(*[x[3:] for x in data])
    _assert_close(_value(accumulated), _value(fresh))
    with warnings.catch_warnings():  # torchmetrics warns about compute() before update(); we raise
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(MotionlabError, match="needs"):  # a metric over nothing says so
            factory().compute()


# ------------------------------------------------------------------ DDP: 2 processes == 1 process

DDP_CASES = ("FrechetDistance", "PCK", "SpeedW1", "Diversity", "KineticFID", "JerkStats")


def _ddp_worker(rank: int, world: int, port: int, out_file: str) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results = {}
        for name in DDP_CASES:
            factory, data = CASES[name]
            metric = factory()
            metric.update(*[x[:2] if rank == 0 else x[2:] for x in data])  # uneven halves: 2 and 4 sequences
            results[name] = _value(metric)
        if rank == 0:
            with open(out_file, "w") as f:
                json.dump(results, f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_equals_one_process(tmp_path):
    import torch.multiprocessing as mp

    out_file = tmp_path / "ddp.json"
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out_file)), nprocs=2, join=True)
    ddp = json.loads(out_file.read_text())
    for name in DDP_CASES:
        factory, data = CASES[name]
        single = factory()
        single.update(*data)
        _assert_close(ddp[name], _value(single))


@pytest.mark.parametrize("name", ["FrechetDistance", "Diversity", "SpeedW1"])
def test_forward_per_batch_then_compute_equals_one_shot(name):
    """Lightning's per-step metric(pred, target) path merges states the same way."""
    factory, data = CASES[name]
    stepped = factory()
    for sl in (slice(0, 2), slice(2, 6)):
        stepped(*[torch.from_numpy(x[sl]) for x in data])
    one_shot = factory()
    one_shot.update(*data)
    _assert_close(_value(stepped), _value(one_shot))


def test_bone_length_error_known_stretch_and_uneven_batches():
    """A 2-bone chain whose second bone is 50 % too long in half the frames: error = 0.5 * (1/2 bones) * (1/2 frames) = 0.125."""
    T = 10
    truth = np.zeros((T, 3, 3))
    truth[:, 1, 0], truth[:, 2, 0] = 1.0, 3.0  # bones of length 1 and 2 along x
    pred = truth.copy()
    pred[: T // 2, 2, 0] = 4.0  # second bone 3 long instead of 2 in the first half
    m = M.BoneLengthError([[0, 1], [1, 2]])
    m.update(pred, truth)
    assert float(m.compute()) == pytest.approx(0.125)
    m2 = M.BoneLengthError([[0, 1], [1, 2]])
    m2.update(truth, truth)
    assert float(m2.compute()) == 0.0  # the ground truth against itself
    with pytest.raises(MotionlabError, match="edges name joint 5 but the positions have 3 joints"):
        M.BoneLengthError([[0, 5]]).update(truth, truth)
    with pytest.raises(MotionlabError, match="non-empty list of joint-index pairs"):
        M.BoneLengthError([])
