"""Contrastive terms on the gesture generator's joint space (CC-NCE and its ablations, specs §2).

``z`` is the per-frame embedding the decoders read, (B, C, T), L2-normalised over channels. The
similarity of two windows' embeddings is the mean over time of the per-frame channel dot products
(:func:`embedding_similarity`; the original's einsum summed over time instead of channels).

- :class:`ClusteredContrastiveLoss` (CC-NCE): the batch is clustered in *pose* space (ground-truth
  windows, z-normed, dot product or soft-DTW) around a threshold learnt from the similarities of one
  warm-up epoch; a bounded global dictionary of clusters (encoder inputs of their last members)
  supplies positives — the matching cluster's members re-encoded by the current network without
  gradient — and negatives — every other cluster's. Same-cluster batch members are positives too.
- :class:`MomentumContrastLoss` (MoCo): a momentum copy of the encoder makes keys from a second noisy
  view; a queue of past keys are the negatives.
- :func:`patch_nce_loss` (PatchNCE): frame t of ``z`` against frame t of the ground-truth pose's
  embedding (positive) and the other frames of the same window (negatives).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motionlab.utils.errors import MotionlabError

CONTRASTIVE_KINDS = ("none", "ccnce", "moco", "patchnce")


def embedding_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, C, T), (M, C, T) channel-normalised embeddings -> (N, M): mean over time of per-frame dot products, in [-1, 1]."""
    return torch.einsum("nct,mct->nm", a, b) / a.shape[2]


def pose_similarity(y: torch.Tensor) -> torch.Tensor:
    """(B, T, D) pose windows -> (B, B): dot product of the z-normed windows / (T·D) (a correlation, in [-1, 1])."""
    flat = y.reshape(y.shape[0], -1).float()
    flat = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-6)
    return flat @ flat.T / flat.shape[1]


def soft_dtw(a: torch.Tensor, b: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Soft-DTW discrepancy of every pair: (N, T, D), (M, S, D) -> (N, M), the squared Euclidean frame cost.

    Computed along anti-diagonals, vectorised over pairs (O(T·S) steps of N·M work)."""
    cost = torch.cdist(a.float()[:, None].expand(-1, b.shape[0], -1, -1).reshape(-1, a.shape[1], a.shape[2]),
                       b.float()[None].expand(a.shape[0], -1, -1, -1).reshape(-1, b.shape[1], b.shape[2])) ** 2
    P, T, S = cost.shape
    inf = torch.tensor(float("inf"), device=cost.device)
    R = torch.full((P, T + 1, S + 1), float("inf"), device=cost.device)
    R[:, 0, 0] = 0.0
    for d in range(2, T + S + 1):
        i = torch.arange(max(1, d - S), min(T, d - 1) + 1, device=cost.device)
        j = d - i
        prev = torch.stack([R[:, i - 1, j - 1], R[:, i - 1, j], R[:, i, j - 1]], dim=0)
        finite = torch.where(torch.isinf(prev), -inf, -prev / gamma)
        R[:, i, j] = cost[:, i - 1, j - 1] - gamma * torch.logsumexp(finite, dim=0)
    return R[:, T, S].reshape(a.shape[0], b.shape[0])


def pose_similarity_matrix(y: torch.Tensor, kind: str = "dot", gamma: float = 1.0) -> torch.Tensor:
    """(B, T, D) -> (B, B) similarities: ``dot`` (z-normed correlation) or ``dtw`` (minus the soft-DTW of the
    z-normed windows per frame: a distance turned into a similarity — larger is closer, the right way round)."""
    if kind == "dot":
        return pose_similarity(y)
    if kind == "dtw":
        z = (y - y.mean((1, 2), keepdim=True)) / y.std((1, 2), keepdim=True).clamp_min(1e-6)
        return -soft_dtw(z, z, gamma) / (y.shape[1] * y.shape[2])
    raise MotionlabError(f"--ccnce_similarity: expected dot or dtw, got {kind!r}")


def cluster_batch(similarity: torch.Tensor, threshold: float, first_anchor: int = 0) -> tuple[torch.Tensor, list[int]]:
    """Greedy threshold clustering (CC-NCE step 2): (B, B) similarities -> (labels (B,), anchors).

    The anchor takes every unassigned sample more similar than ``threshold``; the unassigned sample
    least similar to that anchor becomes the next anchor; until everything is assigned."""
    B = similarity.shape[0]
    labels = torch.full((B,), -1, dtype=torch.long)
    anchors: list[int] = []
    sim = similarity.detach().cpu()
    anchor = int(first_anchor)
    while True:
        c = len(anchors)
        anchors.append(anchor)
        labels[anchor] = c
        free = labels < 0
        labels[free & (sim[anchor] > threshold)] = c
        free = labels < 0
        if not free.any():
            return labels, anchors
        cand = torch.nonzero(free).squeeze(1)
        anchor = int(cand[sim[anchor, cand].argmin()])


class ClusteredContrastiveLoss(nn.Module):
    """CC-NCE (see the module docstring). Its state — threshold statistics and the global dictionary — is
    saved in checkpoints through ``get_extra_state`` (kept out of DDP's buffer broadcast)."""

    def __init__(self, *, temperature: float = 0.1, objective: str = "bce", similarity: str = "dot", dtw_gamma: float = 1.0,
                 max_clusters: int = 8, members: int = 20, threshold_epoch: int = 1, seed: int = 0):
        super().__init__()
        if objective not in ("bce", "infonce"):
            raise MotionlabError(f"--ccnce_objective: expected bce or infonce, got {objective!r}")
        if similarity not in ("dot", "dtw"):
            raise MotionlabError(f"--ccnce_similarity: expected dot or dtw, got {similarity!r}")
        if max_clusters < 1 or members < 1:
            raise MotionlabError(f"CC-NCE dictionary: expected at least one cluster and one member, got {max_clusters} clusters of {members}")
        self.temperature, self.objective, self.similarity, self.dtw_gamma = float(temperature), objective, similarity, float(dtw_gamma)
        self.max_clusters, self.members, self.threshold_epoch, self.seed = int(max_clusters), int(members), int(threshold_epoch), int(seed)
        self.clear()
        self.recorded: list[float] = []
        self.threshold: float | None = None
        self.calls = 0

    # ---- the dictionary ------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every global cluster (the threshold stays)."""
        self.inputs: list[torch.Tensor] = []  # per cluster (m, C, T) encoder inputs of its last members
        self.poses: list[torch.Tensor] = []  # per cluster (m, T, D) their ground-truth windows
        self.last_used: list[int] = []

    def __len__(self) -> int:
        return len(self.inputs)

    def _add(self, cluster: int | None, x: torch.Tensor, y: torch.Tensor) -> int:
        """Append members to ``cluster`` (None: a new cluster, evicting the least recently used when full); keep the last ``members``."""
        x, y = x.detach().float().cpu(), y.detach().float().cpu()
        if cluster is None:
            if len(self.inputs) >= self.max_clusters:
                cluster = int(np.argmin(self.last_used))
                self.inputs[cluster], self.poses[cluster] = x[-self.members :], y[-self.members :]
            else:
                cluster = len(self.inputs)
                self.inputs.append(x[-self.members :])
                self.poses.append(y[-self.members :])
                self.last_used.append(0)
        else:
            self.inputs[cluster] = torch.cat([self.inputs[cluster], x])[-self.members :]
            self.poses[cluster] = torch.cat([self.poses[cluster], y])[-self.members :]
        self.last_used[cluster] = self.calls
        return cluster

    def get_extra_state(self):
        return {
            "inputs": list(self.inputs), "poses": list(self.poses), "last_used": torch.tensor(self.last_used, dtype=torch.long),
            "recorded": torch.tensor(self.recorded, dtype=torch.float64), "threshold": torch.tensor(float("nan") if self.threshold is None else self.threshold, dtype=torch.float64),
            "calls": torch.tensor(self.calls),
        }

    def set_extra_state(self, state) -> None:
        self.inputs, self.poses = list(state["inputs"]), list(state["poses"])
        self.last_used = [int(v) for v in state["last_used"]]
        self.recorded = [float(v) for v in state["recorded"]]
        thr = float(state["threshold"])
        self.threshold = None if np.isnan(thr) else thr
        self.calls = int(state["calls"])

    # ---- the threshold -------------------------------------------------------------------------
    def active(self, epoch: int) -> bool:
        """The loss applies from the epoch after the one whose similarities set the threshold."""
        return epoch > self.threshold_epoch

    def update_threshold(self, epoch: int, batch_similarity: torch.Tensor, anchor: int) -> None:
        """Record a batch's mean anchor-to-others similarity during ``threshold_epoch``; afterwards fix thr = mean + std."""
        if epoch == self.threshold_epoch:
            others = torch.cat([batch_similarity[anchor, :anchor], batch_similarity[anchor, anchor + 1 :]])
            if others.numel():
                self.recorded.append(float(others.mean()))
        elif epoch > self.threshold_epoch and self.threshold is None:
            if not self.recorded:
                raise MotionlabError(f"CC-NCE: no similarities were recorded in epoch {self.threshold_epoch} (--ccnce_threshold_epoch) to set the threshold")
            r = np.asarray(self.recorded)
            self.threshold = float(r.mean() + r.std())

    def observe(self, y: torch.Tensor, epoch: int):
        """A training batch's ground truth seen (also when the loss is not computed, e.g. curriculum steps):
        its pose similarities and random first anchor, recorded for the threshold. -> (similarity, anchor, rng)."""
        self.calls += 1
        rng = np.random.default_rng([self.seed % (2**32), self.calls])
        sim = pose_similarity_matrix(y, self.similarity, self.dtw_gamma)
        first = int(rng.integers(y.shape[0]))
        self.update_threshold(epoch, sim, first)
        return sim, first, rng

    # ---- the loss ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor, encode, epoch: int) -> tuple[torch.Tensor, dict]:
        """x (B, C, T) encoder inputs, z (B, C, T) normalised embeddings (with gradient), y (B, T, D) ground truth,
        ``encode(x) -> z`` the current network (called without gradient on dictionary members)."""
        B = x.shape[0]
        sim, first, rng = self.observe(y, epoch)
        zero = z.sum() * 0.0
        if not self.active(epoch) or B < 2:
            return zero, {"clusters": torch.tensor(0.0), "dictionary": torch.tensor(float(len(self)))}
        labels, anchors = cluster_batch(sim, self.threshold, first)
        # match every batch cluster to the dictionary (its anchor vs one random member of each global cluster)
        matched: list[int | None] = []
        for anchor in anchors:
            best, best_sim = None, self.threshold
            for k, poses in enumerate(self.poses):
                member = poses[int(rng.integers(len(poses)))].to(y.device, y.dtype)
                s = float(pose_similarity_matrix(torch.stack([y[anchor], member]), self.similarity, self.dtw_gamma)[0, 1])
                if s > best_sim:
                    best, best_sim = k, s
            matched.append(best)
        cand_z, cand_cluster = [], []
        if len(self):
            with torch.no_grad():
                stored = torch.cat(self.inputs).to(x.device, x.dtype)
                cand_z.append(encode(stored))
            cand_cluster = [k for k, m in enumerate(self.inputs) for _ in range(len(m))]
        dict_cluster = torch.tensor(cand_cluster, dtype=torch.long, device=z.device)
        # candidates: the other batch members, then the dictionary's members
        logits_batch = embedding_similarity(z, z)  # (B, B)
        target_batch = (labels[:, None] == labels[None, :]).to(z.device)
        eye = torch.eye(B, dtype=torch.bool, device=z.device)
        logits, targets, valid = [logits_batch], [target_batch], [~eye]
        if cand_z:
            logits.append(embedding_similarity(z, cand_z[0]))
            own = torch.tensor([-1 if m is None else m for m in matched], device=z.device)[labels.to(z.device)]  # each sample's global cluster
            targets.append(dict_cluster[None, :] == own[:, None])
            valid.append(torch.ones(B, len(cand_cluster), dtype=torch.bool, device=z.device))
        s, t, v = torch.cat(logits, 1) / self.temperature, torch.cat(targets, 1).float(), torch.cat(valid, 1)
        if self.objective == "bce":
            loss = (F.binary_cross_entropy_with_logits(s, t, reduction="none") * v).sum() / v.sum()
        else:  # multi-positive InfoNCE over the candidates, for the samples that have a positive
            s = s.masked_fill(~v, float("-inf"))
            log_p = s - torch.logsumexp(s, dim=1, keepdim=True)
            pos = (t > 0) & v
            has = pos.any(1)
            loss = -(log_p.masked_fill(~pos, 0.0).sum(1)[has] / pos.sum(1)[has]).mean() if has.any() else zero
        for c, anchor in enumerate(anchors):
            members = torch.nonzero(labels == c).squeeze(1)
            self._add(matched[c], x[members], y[members])
        return loss, {"clusters": torch.tensor(float(len(anchors))), "dictionary": torch.tensor(float(len(self))),
                      "positives": t[v.bool()].sum() / B}


class MomentumContrastLoss(nn.Module):
    """MoCo on window embeddings: query = time-pooled z, key = time-pooled momentum-encoder output of a
    second noisy view of the same encoder input; a queue of past keys are the negatives."""

    def __init__(self, encoder: nn.Module, channels: int, *, queue: int = 1024, momentum: float = 0.999, temperature: float = 0.1, noise: float = 0.1):
        super().__init__()
        self.key_encoder = copy.deepcopy(encoder)
        for p in self.key_encoder.parameters():
            p.requires_grad_(False)
        self.momentum, self.temperature, self.noise = float(momentum), float(temperature), float(noise)
        self.register_buffer("queue", F.normalize(torch.randn(queue, channels), dim=1))
        self.register_buffer("queue_at", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def follow(self, encoder: nn.Module) -> None:
        """Momentum update of the key encoder towards ``encoder``."""
        for k, q in zip(self.key_encoder.parameters(), encoder.parameters()):
            k.mul_(self.momentum).add_(q.detach(), alpha=1 - self.momentum)
        for k, q in zip(self.key_encoder.buffers(), encoder.buffers()):
            k.copy_(q)

    def forward(self, x: torch.Tensor, z: torch.Tensor, encoder: nn.Module) -> tuple[torch.Tensor, dict]:
        self.follow(encoder)
        with torch.no_grad():
            self.key_encoder.train(encoder.training)
            keys = F.normalize(self.key_encoder(x + self.noise * torch.randn_like(x)).mean(2), dim=1)
        q = F.normalize(z.mean(2), dim=1)
        logits = torch.cat([(q * keys).sum(1, keepdim=True), q @ self.queue.clone().T], dim=1) / self.temperature  # a copy: the queue is updated below
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        with torch.no_grad():
            n, at = keys.shape[0], int(self.queue_at)
            idx = (at + torch.arange(n, device=q.device)) % self.queue.shape[0]
            self.queue[idx] = keys.to(self.queue.dtype)
            self.queue_at.fill_((at + n) % self.queue.shape[0])
        return loss, {}


def patch_nce_loss(z: torch.Tensor, key: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """(B, C, T) query and key embeddings (normalised): InfoNCE of frame t against the key's frame t (positive)
    and its other frames (negatives), averaged over frames and samples."""
    logits = torch.einsum("bct,bcs->bts", z, key) / temperature  # (B, T, T)
    target = torch.arange(z.shape[2], device=z.device).expand(z.shape[0], -1)
    return F.cross_entropy(logits.reshape(-1, z.shape[2]), target.reshape(-1))
