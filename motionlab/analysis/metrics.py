"""Motion metrics as torchmetrics accumulators: one class per metric, all in one place.

Every metric is a :class:`torchmetrics.Metric`, so it accumulates over batches and over sequences
of any length, syncs across DDP ranks and can be logged from a LightningModule (``self.log(name,
metric)``). States are float64 sums / counts / histograms (``dist_reduce_fx="sum"``) or
concatenated lists (``"cat"``): accumulating over uneven batches gives exactly the one-shot value and
N ranks give the value of one process.

Conventions (shared with the rest of ``motionlab.analysis``):

* *features* are ``(T, F)`` arrays in the model's (scaled) space;
* *positions* are ``(T, J, D)`` world positions, ``D`` = 2 or 3;
* ``update(pred, target)`` takes torch tensors or numpy arrays, one sequence ``(T, ...)`` or a batch
  ``(B, T, ...)``; metrics that need a frame rate take ``fps`` in the constructor and report
  derivatives per second.
* Frame-by-frame metrics (L1, MSE, MPJPE, PCK, SpatialNorm, ClusterF1) need ``pred`` and ``target``
  of the same shape; distribution metrics (Fréchet, histograms, JerkStats) only the same per-frame
  shape, so generated and real sets may differ in length.

Metrics whose input is "vectors" (FrechetDistance, Diversity, SampleDiversity, ClusterF1) take
``frame_ndim``: how many trailing dimensions make one frame (1 for features, 2 for positions); they
are flattened into one vector.

The finite-difference helpers :func:`time_derivative`, :func:`speed`, :func:`acceleration` and
:func:`jerk` are public: use them rather than re-deriving velocities elsewhere.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from motionlab.utils.errors import MotionlabError

__all__ = [
    "time_derivative", "speed", "acceleration", "jerk", "frechet_distance", "histogram_w1", "histogram_hellinger",
    "fit_pose_clusters", "L1", "MSE", "MPJPE", "PCK", "FrechetDistance", "KineticFID", "SpeedW1", "AccelerationW1",
    "SpeedHellinger", "SpatialNorm", "Diversity", "SampleDiversity", "JerkStats", "ClusterF1", "NLL",
]

_F64 = torch.float64


# ----------------------------------------------------------------------------------------------
# Finite differences (public helpers)
# ----------------------------------------------------------------------------------------------

def _check_positions_shape(shape: Sequence[int], who: str) -> None:
    if len(shape) < 3 or shape[-1] not in (2, 3):
        raise MotionlabError(f"{who}: expected positions shaped (..., T, J, D) with D = 2 or 3, got shape {tuple(shape)}")


def time_derivative(positions, order: int, fps: float):
    """The ``order``-th backward finite difference along time, times ``fps**order`` (units/s^order).

    ``positions`` is ``(..., T, J, D)`` (numpy or torch; the result has the same type); the result is
    ``(..., T - order, J, D)`` (empty when ``T <= order``). Order 1 is velocity, 2 acceleration, 3 jerk.
    """
    _check_positions_shape(positions.shape, "time_derivative")
    if fps <= 0:
        raise MotionlabError(f"time_derivative: fps must be > 0, got {fps}")
    x = positions
    for _ in range(order):
        x = x[..., 1:, :, :] - x[..., :-1, :, :]
    return x * float(fps) ** order


def _magnitude(x):
    return torch.linalg.vector_norm(x, dim=-1) if isinstance(x, torch.Tensor) else np.linalg.norm(x, axis=-1)


def speed(positions, fps: float):
    """Per-joint speed ``||p[t+1] - p[t]|| * fps``: ``(..., T, J, D)`` -> ``(..., T-1, J)`` in units/s."""
    return _magnitude(time_derivative(positions, 1, fps))


def acceleration(positions, fps: float):
    """Per-joint acceleration magnitude ``||p[t+1] - 2p[t] + p[t-1]|| * fps²``: -> ``(..., T-2, J)`` in units/s²."""
    return _magnitude(time_derivative(positions, 2, fps))


def jerk(positions, fps: float):
    """Per-joint jerk magnitude (third difference times fps³): -> ``(..., T-3, J)`` in units/s³."""
    return _magnitude(time_derivative(positions, 3, fps))


# ----------------------------------------------------------------------------------------------
# Closed forms (public helpers)
# ----------------------------------------------------------------------------------------------

def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)`` (Dowson & Landau 1982; FID, Heusel et al. 2017).
    The trace term is computed as the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``S1^½ S2 S1^½`` (same eigenvalues as ``S1 S2``): no complex ``sqrtm`` and no imaginary parts
    to discard. Rounding can only make the result slightly negative, so it is clipped at 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise MotionlabError(f"frechet_distance: expected means (D,) and covariances (D, D) of one D, got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean), 0.0)


def _bin_centres(edges: np.ndarray) -> np.ndarray:
    return (edges[:-1] + edges[1:]) / 2


def histogram_w1(p, q, edges) -> float:
    """Wasserstein-1 between two histograms on the same bin ``edges``, mass placed at the bin centres.

    ``sum_i |P_i - Q_i| (c_{i+1} - c_i)`` with P, Q the normalised cumulative histograms (the 1-D
    closed form; equals ``scipy.stats.wasserstein_distance(c, c, p, q)``). Units of the edges.
    """
    p, q, edges = (np.asarray(a, np.float64) for a in (p, q, edges))
    if p.shape != q.shape or edges.shape != (p.size + 1,):
        raise MotionlabError(f"histogram_w1: expected two histograms of n bins and n + 1 edges, got {p.shape}, {q.shape}, {edges.shape}")
    cdf_gap = np.abs(np.cumsum(p / p.sum()) - np.cumsum(q / q.sum()))[:-1]
    return float(cdf_gap @ np.diff(_bin_centres(edges)))


def histogram_hellinger(p, q) -> float:
    """Hellinger distance ``sqrt(1 - sum_i sqrt(p_i q_i))`` of the normalised histograms: 0 identical, 1 disjoint."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise MotionlabError(f"histogram_hellinger: expected two histograms of the same bins, got {p.shape} and {q.shape}")
    bc = np.sqrt((p / p.sum()) * (q / q.sum())).sum()
    return float(np.sqrt(max(1.0 - bc, 0.0)))


def fit_pose_clusters(frames, k: int = 8, seed: int = 0) -> np.ndarray:
    """k-means centroids ``(k, F)`` of ``frames`` ``(N, ...)`` (trailing dims flattened), for :class:`ClusterF1`.

    The frames should be the one k-means feature of Mix-StAGE, ``pose_clusters.cluster_features``
    (pose + velocity + speed) per sequence; the k-means itself is ``pose_clusters.fit_kmeans`` (seeded,
    10 inits, centres in a canonical order), shared with the stored clusters Mix-StAGE trains on.
    """
    from motionlab.feature_extraction.pose_clusters import fit_kmeans

    x = np.asarray(frames, np.float64)
    x = x.reshape(len(x), -1) if x.ndim > 1 else x[:, None]
    if len(x) < k:
        raise MotionlabError(f"fit_pose_clusters: need at least k = {k} frames, got {len(x)}")
    return fit_kmeans(x, k, seed)


# ----------------------------------------------------------------------------------------------
# Shared plumbing
# ----------------------------------------------------------------------------------------------

def _windows(x: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """``(B, T, ...)`` -> ``(N, window, ...)``: every window of ``window`` frames starting at multiples of ``hop``."""
    if x.shape[1] < window:
        return x.new_zeros((0, window, *x.shape[2:]))
    w = x.unfold(1, window, hop)  # (B, n, ..., window)
    return w.movedim(-1, 2).reshape(-1, window, *x.shape[2:])


def _mean_pairwise_distance(x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Mean L2 distance over all unordered pairs of rows of ``x`` ``(N, d)``; computed in row chunks."""
    n = x.shape[0]
    total = x.new_zeros((), dtype=_F64)
    for start in range(0, n, chunk):
        d = torch.cdist(x[start:start + chunk], x, compute_mode="donot_use_mm_for_euclid_dist")
        total = total + d.sum()
    return total / (n * (n - 1))  # every pair counted twice, the diagonal is 0


class _MotionMetric(Metric):
    """Input checking and conversion shared by every metric (float64 on the metric's device)."""

    is_differentiable = False
    full_state_update = False

    def _tensor(self, x, name: str) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            t = x.detach()
        else:
            try:
                t = torch.from_numpy(np.asarray(x, dtype=np.float64))
            except (TypeError, ValueError) as e:
                raise MotionlabError(f"{type(self).__name__}.update: {name} must be a tensor or numeric array, got {type(x).__name__}") from e
        if t.is_complex() or t.dtype == torch.bool:
            raise MotionlabError(f"{type(self).__name__}.update: {name} must be real-valued, got dtype {t.dtype}")
        return t.to(device=self.device, dtype=_F64)

    def _fail(self, message: str) -> MotionlabError:
        return MotionlabError(f"{type(self).__name__}: {message}")

    def _pair(self, pred, target, same_shape: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        p, t = self._tensor(pred, "pred"), self._tensor(target, "target")
        if same_shape and p.shape != t.shape:
            raise self._fail(f"pred and target must have the same shape, got pred {tuple(p.shape)} and target {tuple(t.shape)}")
        return p, t

    def _sequences(self, x: torch.Tensor, frame_ndim: int, name: str, what: str) -> torch.Tensor:
        """``(T, *frame)`` or ``(B, T, *frame)`` -> ``(B, T, *frame)``."""
        if x.ndim == frame_ndim + 1:
            return x.unsqueeze(0)
        if x.ndim == frame_ndim + 2:
            return x
        raise self._fail(f"{name} must be {what} shaped (T, ...) or (B, T, ...) with {frame_ndim} per-frame dim(s), got shape {tuple(x.shape)}")

    def _positions(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if x.shape[-1:] not in (torch.Size([2]), torch.Size([3])):
            raise self._fail(f"{name} must be positions (T, J, D) or (B, T, J, D) with D = 2 or 3, got shape {tuple(x.shape)}")
        return self._sequences(x, 2, name, "positions (J, D per frame)")

    def _require(self, count: torch.Tensor, minimum: int = 1, what: str = "frames") -> None:
        if float(count) < minimum:
            raise self._fail(f"compute() needs at least {minimum} {what} from update(), got {int(count)}")

    def _vectors(self, x: torch.Tensor, frame_ndim: int, name: str) -> torch.Tensor:
        if x.ndim < frame_ndim:
            raise self._fail(f"{name} must have at least {frame_ndim} per-frame dim(s), got shape {tuple(x.shape)}")
        return x.reshape(-1, int(np.prod(x.shape[x.ndim - frame_ndim:], dtype=np.int64)))


def _check_fps(fps: float, who: str) -> float:
    if not fps or fps <= 0:
        raise MotionlabError(f"{who}: fps must be > 0, got {fps}")
    return float(fps)


def _check_window(window: int, minimum: int, who: str) -> int:
    if int(window) != window or window < minimum:
        raise MotionlabError(f"{who}: window must be an integer >= {minimum} frames, got {window}")
    return int(window)


# ----------------------------------------------------------------------------------------------
# Reconstruction
# ----------------------------------------------------------------------------------------------

class _ElementwiseMean(_MotionMetric):
    """Mean over every element of an elementwise error of equal-shaped pred and target."""

    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def _errors(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, pred, target) -> None:
        e = self._errors(*self._pair(pred, target))
        self.total += e.sum()
        self.count += e.numel()

    def compute(self) -> torch.Tensor:
        self._require(self.count, what="elements")
        return self.total / self.count


class L1(_ElementwiseMean):
    """Mean absolute error ``mean |ŷ - y|`` over all elements (features; units of the features).

    Mix-StAGE / CC-NCE report it on z-normalised poses (Ahuja et al., ECCV 2020).
    """

    def _errors(self, pred, target):
        return (pred - target).abs()


class MSE(_ElementwiseMean):
    """Mean squared error ``mean (ŷ - y)²`` over all elements (features; units²)."""

    def _errors(self, pred, target):
        return (pred - target) ** 2


class MPJPE(_ElementwiseMean):
    """Mean per-joint position error ``mean_{t,j} ||ŷ_tj - y_tj||`` (positions ``(..., J, D)``; position units).

    Ionescu et al., Human3.6M (TPAMI 2014).
    """

    def _errors(self, pred, target):
        if pred.ndim < 2 or pred.shape[-1] not in (2, 3):
            raise self._fail(f"pred/target must be positions (..., J, D) with D = 2 or 3, got shape {tuple(pred.shape)}")
        return torch.linalg.vector_norm(pred - target, dim=-1)


class BoneLengthError(_MotionMetric):
    """Relative bone-length error ``mean_{t,b} |l_tb - l̄_b| / l̄_b`` (unitless), l̄_b the ground truth's mean length of bone b.

    For skeletons given as free joint positions (keypoints), where nothing holds a bone's length:
    a model can move at the right speed and still stretch its limbs. Forward-kinematics skeletons
    (BVH) have fixed bones and score 0. Both arguments of ``update`` are positions (T, J, D) of one
    sequence (the reference is each sequence's own ground truth); ``edges`` are joint-index pairs.
    """

    higher_is_better = False

    def __init__(self, edges, **kwargs):
        super().__init__(**kwargs)
        e = np.asarray(edges, dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != 2 or len(e) == 0:
            raise MotionlabError(f"BoneLengthError: edges must be a non-empty list of joint-index pairs, got {edges!r}")
        self.edges = torch.from_numpy(e)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def _lengths(self, x: torch.Tensor) -> torch.Tensor:
        if int(self.edges.max()) >= x.shape[-2]:
            raise self._fail(f"edges name joint {int(self.edges.max())} but the positions have {x.shape[-2]} joints")
        a, b = self.edges[:, 0].to(x.device), self.edges[:, 1].to(x.device)
        return torch.linalg.vector_norm(x[..., a, :] - x[..., b, :], dim=-1)

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target, same_shape=False)
        p, t = self._positions(p, "pred"), self._positions(t, "target")
        ref = self._lengths(t).mean(dim=(0, 1)).clamp_min(1e-12)
        err = (self._lengths(p) - ref).abs() / ref
        self.total += err.sum()
        self.count += err.numel()

    def compute(self) -> torch.Tensor:
        self._require(self.count, what="bone lengths")
        return self.total / self.count


class PCK(_MotionMetric):
    """Percentage of correct keypoints with a per-frame bounding-box threshold, in [0, 1].

    Joint j of frame t is a hit if ``||ŷ_tj - y_tj|| < alpha * max extent of the GT joints' bounding
    box in frame t`` (2-D: max(x-range, y-range); 3-D: max over the three axes); PCK is hits / (joints
    × frames) over everything accumulated. Speech2Gesture (Ginosar et al., CVPR 2019), Mix-StAGE
    (Ahuja et al., ECCV 2020) with alpha in {0.1, 0.2}, on denormalised poses with the root at 0.
    The original's reported value is a running average of per-batch running averages, which weights
    batches unequally (a bug); here hits and counts are summed, so it is the plain average.
    A frame whose GT joints all coincide has threshold 0: no hits.
    """

    higher_is_better = True

    def __init__(self, alpha: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        if not alpha > 0:
            raise MotionlabError(f"PCK: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)
        self.add_state("hits", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target)
        if p.ndim < 2 or p.shape[-1] not in (2, 3):
            raise self._fail(f"pred/target must be positions (..., J, D) with D = 2 or 3, got shape {tuple(p.shape)}")
        extent = (t.amax(dim=-2) - t.amin(dim=-2)).amax(dim=-1, keepdim=True)  # (..., 1)
        dist = torch.linalg.vector_norm(p - t, dim=-1)  # (..., J)
        self.hits += (dist < self.alpha * extent).sum()
        self.count += dist.numel()

    def compute(self) -> torch.Tensor:
        self._require(self.count, what="joints")
        return self.hits / self.count


# ----------------------------------------------------------------------------------------------
# Distribution
# ----------------------------------------------------------------------------------------------

_SETS = ("pred", "target")


class FrechetDistance(_MotionMetric):
    """Fréchet distance between Gaussians fitted to two sets of vectors (units² of the vectors).

    ``||mu_p - mu_t||² + tr(S_p) + tr(S_t) - 2 tr((S_p S_t)^½)`` (FID, Heusel et al. 2017), with mean
    and unbiased covariance of each set. Vectors are frames (``frame_ndim`` trailing dims flattened:
    1 for features, 2 for positions) or any embeddings, e.g. autoencoder latents for FGD (Yoon et al.
    2020); every leading dim is a sample dim. ``target`` is the real set. Either argument of update()
    may be None, to accumulate the two sets in separate loops.

    ``normalize=True`` z-normalises both sets by the real set's per-dimension mean and standard
    deviation before fitting (the "FID" of Mix-StAGE on z-normed 96-d poses, spec §5); dimensions with
    zero real variance are left unscaled.

    States: per set n, Σx, Σxxᵀ in float64, stored as "cat" lists of partial sums (compacted to one
    entry per update) so that the vector size is learnt from the data.
    """

    higher_is_better = False

    def __init__(self, normalize: bool = False, frame_ndim: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.normalize = bool(normalize)
        self.frame_ndim = int(frame_ndim)
        for s in _SETS:
            for part in ("n", "sum", "outer"):
                self.add_state(f"{s}_{part}", [], dist_reduce_fx="cat")

    def _accumulate(self, which: str, x: torch.Tensor) -> None:
        if x.shape[0] == 0:
            return
        new = {"n": x.new_full((1,), x.shape[0]), "sum": x.sum(0, keepdim=True), "outer": (x.T @ x).unsqueeze(0)}
        for part, value in new.items():
            name = f"{which}_{part}"
            merged = getattr(self, name) + [value]
            if len(merged) > 1:
                try:
                    merged = [torch.cat(merged).sum(0, keepdim=True)]
                except RuntimeError as e:
                    raise self._fail(f"vectors of {which} changed size between updates: {tuple(merged[0].shape[1:])} then {tuple(value.shape[1:])}") from e
            setattr(self, name, merged)

    def _vector_pairs(self, pred, target):
        out = {}
        for name, x in (("pred", pred), ("target", target)):
            if x is not None:
                out[name] = self._vectors(self._tensor(x, name), self.frame_ndim, name)
        if not out:
            raise self._fail("update() needs pred, target or both")
        if len(out) == 2 and out["pred"].shape[1] != out["target"].shape[1]:
            raise self._fail(f"pred and target vectors must have the same size, got {out['pred'].shape[1]} and {out['target'].shape[1]}")
        return out

    def update(self, pred=None, target=None) -> None:
        for which, x in self._vector_pairs(pred, target).items():
            self._accumulate(which, x)

    def _moments(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        states = [getattr(self, f"{which}_{part}") for part in ("n", "sum", "outer")]
        if isinstance(states[0], list) and not states[0]:
            raise self._fail(f"compute() needs at least 2 {which} vectors, got none")
        n, s, outer = (dim_zero_cat(x).sum(0).cpu().numpy() for x in states)
        n = float(n)
        self._require(torch.tensor(n), 2, f"{which} vectors")
        mu = s / n
        cov = (outer - n * np.outer(mu, mu)) / (n - 1)
        return mu, cov

    def compute(self) -> torch.Tensor:
        mu_p, cov_p = self._moments("pred")
        mu_t, cov_t = self._moments("target")
        if mu_p.shape != mu_t.shape:
            raise self._fail(f"pred and target vectors must have the same size, got {mu_p.size} and {mu_t.size}")
        if self.normalize:
            sd = np.sqrt(np.clip(np.diag(cov_t), 0.0, None))
            sd[sd <= 1e-12 * max(sd.max(initial=0.0), 1.0)] = 1.0
            mu_p, mu_t = (mu_p - mu_t) / sd, np.zeros_like(mu_t)
            cov_p, cov_t = cov_p / np.outer(sd, sd), cov_t / np.outer(sd, sd)
        return torch.tensor(frechet_distance(mu_p, cov_p, mu_t, cov_t), dtype=_F64)


class KineticFID(FrechetDistance):
    """Fréchet distance between per-window kinetic features of generated and real motion.

    Positions ``(T, J, D)`` / ``(B, T, J, D)`` are cut into windows of ``window`` frames starting every
    ``hop`` frames (default: non-overlapping; a sequence shorter than one window contributes nothing).
    Each window gives one 4J-vector: for every joint, the mean and the (population) standard
    deviation over the window of its speed (``window - 1`` values, units/s) and of its acceleration
    magnitude (``window - 2`` values, units/s²), in the order [speed means, speed stds, acceleration
    means, acceleration stds]. The value is :class:`FrechetDistance` between the two sets of vectors
    (``normalize=True`` z-normalises them by the real windows' statistics first, which removes the
    mixed units). In the spirit of FID_k of AIST++ (Li et al., ICCV 2021), not its feature set.
    """

    def __init__(self, fps: float, window: int = 30, hop: int | None = None, normalize: bool = False, **kwargs):
        super().__init__(normalize=normalize, frame_ndim=1, **kwargs)
        self.fps = _check_fps(fps, "KineticFID")
        self.window = _check_window(window, 3, "KineticFID")
        self.hop = _check_window(hop or window, 1, "KineticFID (hop)")

    def kinetic_features(self, positions: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, D)`` -> ``(N windows, 4J)`` as described in the class docstring."""
        w = _windows(positions, self.window, self.hop)
        v, a = speed(w, self.fps), acceleration(w, self.fps)  # (N, window-1, J), (N, window-2, J)
        return torch.cat([v.mean(1), v.std(1, unbiased=False), a.mean(1), a.std(1, unbiased=False)], dim=1)

    def update(self, pred=None, target=None) -> None:
        sets = {n: x for n, x in (("pred", pred), ("target", target)) if x is not None}
        if not sets:
            raise self._fail("update() needs pred, target or both")
        feats = {n: self.kinetic_features(self._positions(self._tensor(x, n), n)) for n, x in sets.items()}
        if len(feats) == 2 and feats["pred"].shape[1] != feats["target"].shape[1]:
            raise self._fail(f"pred and target must have the same joints, got {feats['pred'].shape[1] // 4} and {feats['target'].shape[1] // 4}")
        for n, f in feats.items():
            self._accumulate(n, f)


class _KinematicHistogram(_MotionMetric):
    """Histograms of the per-frame mean-over-joints speed (order 1) or acceleration (order 2) magnitude.

    Values outside the bin edges are counted in the first / last bin so no frame is lost (the
    original's np.histogram dropped them); ``pred_outside`` / ``target_outside`` count those frames,
    so choose bins covering the data.
    """

    order = 1
    default_bins = np.round(np.arange(0, 3001) * 0.1, 10)  # the original's 0:0.1:300
    higher_is_better = False

    def __init__(self, fps: float, bins=None, **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.fps = _check_fps(fps, who)
        edges = np.asarray(self.default_bins if bins is None else bins, np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
            raise MotionlabError(f"{who}: bins must be at least 2 strictly increasing edges, got {edges if edges.size < 8 else edges.shape}")
        self.edges = edges
        self._inner_edges = torch.from_numpy(edges[1:-1].copy())
        for s in _SETS:
            self.add_state(f"{s}_hist", torch.zeros(edges.size - 1, dtype=_F64), dist_reduce_fx="sum")
            self.add_state(f"{s}_outside", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def per_frame_values(self, positions: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, D)`` -> per-frame mean over joints of the derivative magnitude, flattened."""
        return _magnitude(time_derivative(positions, self.order, self.fps)).mean(-1).reshape(-1)

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target, same_shape=False)
        p, t = self._positions(p, "pred"), self._positions(t, "target")
        if p.shape[2:] != t.shape[2:]:
            raise self._fail(f"pred and target must have the same joints per frame, got {tuple(p.shape[2:])} and {tuple(t.shape[2:])}")
        inner = self._inner_edges.to(self.device)
        for name, x in (("pred", p), ("target", t)):
            v = self.per_frame_values(x)
            hist = getattr(self, f"{name}_hist")
            hist += torch.bincount(torch.bucketize(v, inner, right=True), minlength=hist.numel()).to(_F64)
            outside = getattr(self, f"{name}_outside")
            outside += ((v < self.edges[0]) | (v > self.edges[-1])).sum()

    def _distance(self, p: np.ndarray, q: np.ndarray) -> float:
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        for s in _SETS:
            self._require(getattr(self, f"{s}_hist").sum(), what=f"{s} frames")
        return torch.tensor(self._distance(self.pred_hist.cpu().numpy(), self.target_hist.cpu().numpy()), dtype=_F64)


class SpeedW1(_KinematicHistogram):
    """Wasserstein-1 between the histograms of per-frame mean-over-joints speed (units/s) of pred and GT.

    Positions ``(T, J, D)`` / ``(B, T, J, D)``; speed as :func:`speed` averaged over joints per frame;
    ``bins`` are fixed histogram edges in units/s (default the original's 0:0.1:300, fine for cm/s;
    for m/s pass e.g. ``np.linspace(0, 10, 1001)``); W1 by :func:`histogram_w1`, in units/s.
    C-DiffGAN (Ahuja et al., ICCV 2023), spec §5 ("W1 vel").
    """

    def _distance(self, p, q):
        return histogram_w1(p, q, self.edges)


class AccelerationW1(SpeedW1):
    """Wasserstein-1 between histograms of per-frame mean-over-joints acceleration magnitude (units/s²).

    As :class:`SpeedW1` with :func:`acceleration`; default bins 0:1:3000 (units/s²). Spec §5 ("W1 acc").
    """

    order = 2
    default_bins = np.arange(0, 3001, dtype=np.float64)


class SpeedHellinger(_KinematicHistogram):
    """Hellinger distance (in [0, 1]) between the normalised histograms of per-frame mean speed.

    Same histograms as :class:`SpeedW1`; distance by :func:`histogram_hellinger`. Kucherenko et al.,
    "Moving fast and slow" (IJHCI 2021) compare gesture speed histograms this way.
    """

    def _distance(self, p, q):
        return histogram_hellinger(p, q)


class SpatialNorm(_MotionMetric):
    """How far from the mean pose the prediction moves, compared with GT; 0 is perfect (unitless).

    Per frame ``d(x) = mean_j ||x_j - m_j||`` with ``m`` the mean (training) pose ``(J, D)``;
    ``SpatialNorm = RMS_t(d(ŷ_t) - d(y_t)) / RMS_t(d(m) - d(y_t)) = sqrt(Σ_t (d(ŷ_t) - d(y_t))² / Σ_t d(y_t)²)``.
    From CC-NCE / C-DiffGAN's code (spec §5), where it was the model-selection key. The original
    never reset the denominator between evaluations (a bug); here both sums are states of this
    evaluation and reset() clears them.
    """

    higher_is_better = False

    def __init__(self, mean_pose, **kwargs):
        super().__init__(**kwargs)
        m = torch.as_tensor(np.asarray(mean_pose, np.float64))
        if m.ndim != 2 or m.shape[-1] not in (2, 3):
            raise MotionlabError(f"SpatialNorm: mean_pose must be (J, D) with D = 2 or 3, got shape {tuple(m.shape)}")
        self.mean_pose = m
        self.add_state("sq_gap", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("sq_gt", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("frames", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target)
        p = self._positions(p, "pred")
        if p.shape[-2:] != self.mean_pose.shape:
            raise self._fail(f"positions must have the mean pose's (J, D) = {tuple(self.mean_pose.shape)} per frame, got {tuple(p.shape[-2:])}")
        m = self.mean_pose.to(self.device)
        d_pred = torch.linalg.vector_norm(p - m, dim=-1).mean(-1)
        d_gt = torch.linalg.vector_norm(t - m, dim=-1).mean(-1).reshape(d_pred.shape)
        self.sq_gap += ((d_pred - d_gt) ** 2).sum()
        self.sq_gt += (d_gt ** 2).sum()
        self.frames += d_gt.numel()

    def compute(self) -> torch.Tensor:
        self._require(self.frames)
        if float(self.sq_gt) == 0.0:
            raise self._fail("the ground truth never leaves the mean pose: the denominator is 0")
        return torch.sqrt(self.sq_gap / self.sq_gt)


class Diversity(_MotionMetric):
    """Mean pairwise L2 distance between clips of the generated set (units of the input).

    Every sequence of ``pred`` is cut into windows of ``window`` frames every ``hop`` frames (default
    non-overlapping); each clip is flattened (``window × frame`` values) and the value is the mean L2
    distance over all unordered pairs of clips accumulated (as Dist of Lee et al., "Dancing to
    Music", NeurIPS 2019). ``target`` is accepted for a uniform update(pred, target) and ignored: the
    real set's diversity is Diversity over it as ``pred``. Note: spec §5's Mix-StAGE "Diversity" is
    a different quantity, L1 to the mean training pose (:class:`L1` against the broadcast mean pose).
    Clips are kept ("cat" state), O(N²) pairs at compute.
    """

    higher_is_better = True

    def __init__(self, window: int, hop: int | None = None, frame_ndim: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.window = _check_window(window, 1, "Diversity")
        self.hop = _check_window(hop or window, 1, "Diversity (hop)")
        self.frame_ndim = int(frame_ndim)
        self.add_state("clips", [], dist_reduce_fx="cat")

    def update(self, pred, target=None) -> None:
        x = self._sequences(self._tensor(pred, "pred"), self.frame_ndim, "pred", "sequences")
        clips = _windows(x, self.window, self.hop).reshape(-1, self.window * int(np.prod(x.shape[2:], dtype=np.int64)))
        if len(clips):
            self.clips.append(clips)

    def compute(self) -> torch.Tensor:
        clips = dim_zero_cat(self.clips) if (not isinstance(self.clips, list) or self.clips) else torch.zeros(0)
        self._require(torch.tensor(len(clips)), 2, f"clips of {self.window} frames")
        return _mean_pairwise_distance(clips)


class SampleDiversity(_MotionMetric):
    """Mean pairwise L2 distance between K samples generated for the same input (units of the input).

    update(pred) takes ``(K, T, ...)`` for one input or ``(N, K, T, ...)`` for N inputs (``frame_ndim``
    per-frame dims after T). Each sample is cut into clips like :class:`Diversity` (whole sequences
    when ``window`` is None); for each input and time window the mean L2 distance over the K(K-1)/2
    pairs of samples' clips is taken, then averaged over windows and inputs (the multimodality of
    Lee et al. 2019 / Guo et al., Action2Motion 2020). ``target`` is ignored.
    """

    higher_is_better = True

    def __init__(self, window: int | None = None, frame_ndim: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.window = None if window is None else _check_window(window, 1, "SampleDiversity")
        self.frame_ndim = int(frame_ndim)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, pred, target=None) -> None:
        x = self._tensor(pred, "pred")
        if x.ndim == self.frame_ndim + 2:
            x = x.unsqueeze(0)
        if x.ndim != self.frame_ndim + 3 or x.shape[1] < 2:
            raise self._fail(f"pred must be K >= 2 samples (K, T, ...) or (N, K, T, ...) with {self.frame_ndim} per-frame dim(s), got shape {tuple(x.shape)}")
        n, k, t = x.shape[:3]
        window = self.window or t
        clips = _windows(x.reshape(n * k, t, *x.shape[3:]), window, window)  # (n*k*W, window, ...)
        clips = clips.reshape(n, k, -1, window * int(np.prod(x.shape[3:], dtype=np.int64))).transpose(1, 2)  # (n, W, k, d)
        if clips.shape[1] == 0:
            return
        d = torch.cdist(clips, clips, compute_mode="donot_use_mm_for_euclid_dist")  # (n, W, k, k)
        self.total += d.sum() / (k * (k - 1))
        self.count += n * clips.shape[1]

    def compute(self) -> torch.Tensor:
        self._require(self.count, what="(input, window) groups")
        return self.total / self.count


class JerkStats(_MotionMetric):
    """Acceleration and jerk magnitudes of pred relative to GT: 1 is "as lively as the ground truth".

    Positions ``(T, J, D)`` / ``(B, T, J, D)``. compute() returns a dict: ``acceleration_pred`` /
    ``acceleration_target`` (mean over frames and joints of :func:`acceleration`, units/s²),
    ``jerk_pred`` / ``jerk_target`` (mean of :func:`jerk`, units/s³), and ``acceleration_ratio`` /
    ``jerk_ratio`` (pred / target). Playing a motion twice as fast multiplies the ratios by 4 and 8.
    Jerk as a smoothness measure: Flash & Hogan 1985; used for gestures in GENEA (Kucherenko et al.).
    """

    _QUANTITIES = (("acceleration", 2), ("jerk", 3))

    def __init__(self, fps: float, **kwargs):
        super().__init__(**kwargs)
        self.fps = _check_fps(fps, "JerkStats")
        for q, _ in self._QUANTITIES:
            for s in _SETS:
                self.add_state(f"{q}_{s}_sum", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
                self.add_state(f"{q}_{s}_count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target, same_shape=False)
        sets = {"pred": self._positions(p, "pred"), "target": self._positions(t, "target")}
        if sets["pred"].shape[2:] != sets["target"].shape[2:]:
            raise self._fail(f"pred and target must have the same joints per frame, got {tuple(p.shape[-2:])} and {tuple(t.shape[-2:])}")
        for q, order in self._QUANTITIES:
            for s, x in sets.items():
                m = _magnitude(time_derivative(x, order, self.fps))
                getattr(self, f"{q}_{s}_sum").add_(m.sum())
                getattr(self, f"{q}_{s}_count").add_(m.numel())

    def compute(self) -> dict[str, torch.Tensor]:
        out = {}
        for q, order in self._QUANTITIES:
            for s in _SETS:
                self._require(getattr(self, f"{q}_{s}_count"), what=f"{s} frames beyond the first {order}")
                out[f"{q}_{s}"] = getattr(self, f"{q}_{s}_sum") / getattr(self, f"{q}_{s}_count")
            out[f"{q}_ratio"] = out[f"{q}_pred"] / out[f"{q}_target"]
        return out


class ClusterF1(_MotionMetric):
    """Support-weighted F1 (in [0, 1]) of nearest-centroid labels of pred frames vs GT frames.

    Each frame (``frame_ndim`` trailing dims flattened) gets the label of its nearest centroid
    (``centroids`` ``(k, F)``, e.g. :func:`fit_pose_clusters` on the train split; pass frames as
    ``pose_clusters.cluster_features`` of each sequence, the features the centroids were fitted on); the confusion matrix
    of GT labels (rows) vs pred labels is accumulated and compute() gives sklearn's
    ``f1_score(gt, pred, average="weighted", zero_division=0)``. Mix-StAGE / C-DiffGAN, spec §5.
    """

    higher_is_better = True

    def __init__(self, centroids, frame_ndim: int = 1, **kwargs):
        super().__init__(**kwargs)
        c = torch.as_tensor(np.asarray(centroids, np.float64))
        if c.ndim != 2 or c.shape[0] < 2:
            raise MotionlabError(f"ClusterF1: centroids must be (k >= 2, F), got shape {tuple(c.shape)}")
        self.centroids = c
        self.frame_ndim = int(frame_ndim)
        self.add_state("confusion", torch.zeros(c.shape[0], c.shape[0], dtype=_F64), dist_reduce_fx="sum")

    def _labels(self, x: torch.Tensor, name: str) -> torch.Tensor:
        v = self._vectors(x, self.frame_ndim, name)
        if v.shape[1] != self.centroids.shape[1]:
            raise self._fail(f"{name} frames have {v.shape[1]} values but the centroids {self.centroids.shape[1]}")
        return torch.cdist(v, self.centroids.to(self.device), compute_mode="donot_use_mm_for_euclid_dist").argmin(1)

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target)
        k = self.centroids.shape[0]
        pairs = self._labels(t, "target") * k + self._labels(p, "pred")
        self.confusion += torch.bincount(pairs, minlength=k * k).reshape(k, k).to(_F64)

    def compute(self) -> torch.Tensor:
        c = self.confusion
        self._require(c.sum())
        tp, support, predicted = c.diagonal(), c.sum(1), c.sum(0)
        denom = support + predicted  # F1 = 2 tp / (support + predicted), 0 where undefined
        f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
        return (f1 * support).sum() / support.sum()


# ----------------------------------------------------------------------------------------------
# Likelihood
# ----------------------------------------------------------------------------------------------

class NLL(_MotionMetric):
    """Weighted mean of given negative log-likelihoods (nats per dimension).

    update(nll, weight=None): ``nll`` any shape of per-element (or per-window, per-batch) values in
    nats/dim, ``weight`` broadcastable to it (default 1 each; pass e.g. frames × dims per window so
    unequal windows count by size). compute() = ``Σ w·nll / Σ w``. Flow models' test NLL (MoGlow,
    Henter et al. 2020; Transflower, Valle-Pérez et al. 2021) goes through here.
    """

    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("weight", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, nll, weight=None) -> None:
        v = self._tensor(nll, "nll")
        w = torch.ones_like(v) if weight is None else self._tensor(weight, "weight")
        try:
            v, w = torch.broadcast_tensors(v, w)
        except RuntimeError as e:
            raise self._fail(f"weight {tuple(w.shape)} does not broadcast to nll {tuple(v.shape)}") from e
        if (w < 0).any():
            raise self._fail("weights must be >= 0")
        self.total += (v * w).sum()
        self.weight += w.sum()

    def compute(self) -> torch.Tensor:
        if float(self.weight) <= 0:
            raise self._fail("compute() needs update() with a positive total weight")
        return self.total / self.weight


# ----------------------------------------------------------------------------------------------
# Lip sync (SDT)
# ----------------------------------------------------------------------------------------------

# OpenPose's 137-point layout of the SDT importer: body 0-24, face 25-94 (70 points), hands 95-136.
# Inner lips are face points 60-67: upper 61, 62, 63 face lower 67, 66, 65.
SDT_INNER_LIP_PAIRS = ((25 + 61, 25 + 67), (25 + 62, 25 + 66), (25 + 63, 25 + 65))


class LipSyncError(_MotionMetric):
    """Mean |opening_pred − opening_gt| / max_t opening_gt over frames (unitless; SDT's lip-sync error).

    The mouth opening of a frame is the mean distance between paired inner upper/lower lip points
    (``pairs``: joint-index pairs, default :data:`SDT_INNER_LIP_PAIRS`). Each clip's error is
    normalised by that clip's largest ground-truth opening, so speakers at different image scales
    weigh alike; ``update`` takes one clip's positions (T, J, D) or a batch (B, T, J, D) of clips.
    """

    higher_is_better = False

    def __init__(self, pairs=SDT_INNER_LIP_PAIRS, **kwargs):
        super().__init__(**kwargs)
        p = np.asarray(pairs, dtype=np.int64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
            raise MotionlabError(f"LipSyncError: pairs must be a non-empty list of (upper, lower) joint-index pairs, got {pairs!r}")
        self.pairs = torch.from_numpy(p)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def opening(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, D) positions -> (B, T) mouth openings."""
        if int(self.pairs.max()) >= x.shape[-2]:
            raise self._fail(f"lip pairs name joint {int(self.pairs.max())} but the positions have {x.shape[-2]} joints (no inner-lip points)")
        a, b = self.pairs[:, 0].to(x.device), self.pairs[:, 1].to(x.device)
        return torch.linalg.vector_norm(x[..., a, :] - x[..., b, :], dim=-1).mean(-1)

    def update(self, pred, target) -> None:
        p, t = self._pair(pred, target)
        p, t = self._positions(p, "pred"), self._positions(t, "target")
        op, ot = self.opening(p), self.opening(t)
        peak = ot.amax(dim=1, keepdim=True)
        if bool((peak <= 0).any()):
            raise self._fail("a ground-truth clip never opens its mouth (max opening 0): the error cannot be normalised")
        err = (op - ot).abs() / peak
        self.total += err.sum()
        self.count += err.numel()

    def compute(self) -> torch.Tensor:
        self._require(self.count)
        return self.total / self.count
