"""Networks that give a coupling layer its transform parameters from (x_a, cond).

Every net maps h (B, T, in_dim) and cond to (B, T, out_dim) as ``net(h, cond, state)`` (``state``:
the flow's :class:`~.transform.TransformState`, used by the recurrent nets only) and zero-initialises
its last layer so each coupling starts as the identity (the flow starts as its normalisation + 1x1 mixings).

* ``transformer`` (Transflower): cond tokens and h tokens concatenated over time through a
  transformer encoder; absolute (``sinusoidal``/``learned``/``none``) or ``relative`` positions.
* ``conv`` (Flow++ default): residual gated 1-D convolutions over time.
* ``lstm`` / ``gru`` (MoGlow): causal recurrent nets over per-frame concat(h, cond) with
  carried hidden state for step-by-step generation.
* ``ff``: a per-frame MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.modules.transformer import POSITIONAL_ENCODINGS, SequenceEncoder
from motionlab.utils.errors import MotionlabError

TRANSFORMER_POS_EMBS = tuple(POSITIONAL_ENCODINGS) + ("relative",)


def _zero_linear(d_in: int, d_out: int) -> nn.Linear:
    lin = nn.Linear(d_in, d_out)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


def _frame_cond(cond: torch.Tensor | None, T: int) -> torch.Tensor | None:
    """Per-frame conditioning (B, T, Dc): as is if it has T frames, else time-pooled and broadcast."""
    if cond is None:
        return None
    if cond.dim() == 2:
        cond = cond.unsqueeze(1)
    if cond.shape[1] != T:
        cond = cond.mean(1, keepdim=True)
    return cond.expand(-1, T, -1)


def _cat_cond(h: torch.Tensor, cond: torch.Tensor | None, cond_dim: int) -> torch.Tensor:
    if cond_dim == 0:
        return h
    if cond is None:
        raise MotionlabError(f"this coupling network was built with cond_dim={cond_dim} but got no conditioning")
    return torch.cat([h, _frame_cond(cond, h.shape[1]).to(h.dtype)], -1)


# ---------------------------------------------------------------- relative-position transformer


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with a learned per-head bias indexed by the clipped relative distance.

    (Shaw et al. 2018 / T5-style): the logit of query i on key j gets ``bias[h, clip(j - i, -M, M)]``,
    so the layer is translation-equivariant and generalises to windows longer than seen in training.
    """

    def __init__(self, d_model: int, nhead: int, max_distance: int = 32, dropout: float = 0.0):
        super().__init__()
        self.nhead, self.max_distance, self.dropout = nhead, max_distance, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Parameter(torch.randn(nhead, 2 * max_distance + 1) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.nhead, D // self.nhead).permute(2, 0, 3, 1, 4)
        pos = torch.arange(T, device=x.device)
        rel = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance) + self.max_distance
        bias = self.rel_bias[:, rel].unsqueeze(0).to(x.dtype)  # (1, H, T, T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class RelativeEncoderLayer(nn.Module):
    """Pre-norm transformer layer around :class:`RelativeSelfAttention`."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, max_distance: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = RelativeSelfAttention(d_model, nhead, max_distance, dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim_feedforward, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.ff(self.norm2(x)))


class RelativeSequenceEncoder(nn.Module):
    """Same role as ``transformer.SequenceEncoder`` (no absolute positions) with relative-position attention."""

    def __init__(self, d_model: int, nhead: int, nlayers: int, dropout: float = 0.0, dim_feedforward: int | None = None, max_distance: int = 32):
        super().__init__()
        self.layers = nn.ModuleList([RelativeEncoderLayer(d_model, nhead, dim_feedforward or 2 * d_model, dropout, max_distance) for _ in range(nlayers)])
        self.norm = nn.LayerNorm(d_model) if nlayers > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


# ---------------------------------------------------------------- coupling networks


class TransformerCouplingNet(nn.Module):
    """Transflower coupling net: [cond tokens; h tokens] -> transformer encoder -> h positions -> out."""

    recurrent = False

    def __init__(self, in_dim, out_dim, cond_dim, hidden, nlayers: int = 2, nhead: int = 4, dropout: float = 0.0, pos_emb: str = "sinusoidal", max_len: int = 2048, max_rel_dist: int = 32, dim_feedforward: int | None = None):
        super().__init__()
        if pos_emb not in TRANSFORMER_POS_EMBS:
            raise MotionlabError(f"coupling net option 'pos_emb' must be one of {list(TRANSFORMER_POS_EMBS)}, got {pos_emb!r}")
        if nhead < 1 or hidden % nhead:
            raise MotionlabError(f"coupling net option 'nhead' ({nhead}) must be positive and divide 'hidden' ({hidden})")
        if nlayers < 1:
            raise MotionlabError(f"coupling net option 'nlayers' must be >= 1, got {nlayers}")
        self.cond_dim = cond_dim
        self.h_in = nn.Linear(in_dim, hidden)
        self.cond_in = nn.Linear(cond_dim, hidden) if cond_dim else None
        self.segment = nn.Parameter(torch.randn(2, hidden) * 0.02)  # tells cond tokens from h tokens
        if pos_emb == "relative":
            self.encoder = RelativeSequenceEncoder(hidden, nhead, nlayers, dropout, dim_feedforward, max_rel_dist)
        else:
            self.encoder = SequenceEncoder(hidden, hidden, nhead, nlayers, dropout, pos_emb, dim_feedforward, max_len)
        self.head = _zero_linear(hidden, out_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None, state=None) -> torch.Tensor:
        T = h.shape[1]
        tokens = self.h_in(h) + self.segment[1]
        if self.cond_dim:
            if cond is None:
                raise MotionlabError(f"this coupling network was built with cond_dim={self.cond_dim} but got no conditioning")
            c = cond.unsqueeze(1) if cond.dim() == 2 else cond
            tokens = torch.cat([self.cond_in(c.to(h.dtype)) + self.segment[0], tokens], 1)
        return self.head(self.encoder(tokens)[:, -T:])


class GatedResBlock(nn.Module):
    """LayerNorm -> conv -> gate a * sigmoid(b) -> 1x1 out, residual (Flow++ gated resnet)."""

    def __init__(self, hidden: int, kernel_size: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.conv = nn.Conv1d(hidden, 2 * hidden, kernel_size, padding=kernel_size // 2)
        self.proj = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.elu(self.norm(x)).transpose(1, 2)).transpose(1, 2)
        a, b = y.chunk(2, -1)
        return x + self.proj(self.drop(a * torch.sigmoid(b)))


class ConvCouplingNet(nn.Module):
    """Gated residual convolutions over time on concat(h, cond per frame or pooled + broadcast)."""

    recurrent = False

    def __init__(self, in_dim, out_dim, cond_dim, hidden, nblocks: int = 2, kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise MotionlabError(f"coupling net option 'kernel_size' must be odd and positive (same-length output), got {kernel_size}")
        if nblocks < 1:
            raise MotionlabError(f"coupling net option 'nblocks' must be >= 1, got {nblocks}")
        self.cond_dim = cond_dim
        self.inp = nn.Linear(in_dim + cond_dim, hidden)
        self.blocks = nn.Sequential(*[GatedResBlock(hidden, kernel_size, dropout) for _ in range(nblocks)])
        self.norm = nn.LayerNorm(hidden)
        self.head = _zero_linear(hidden, out_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None, state=None) -> torch.Tensor:
        return self.head(F.elu(self.norm(self.blocks(self.inp(_cat_cond(h, cond, self.cond_dim))))))


class FFCouplingNet(nn.Module):
    """Per-frame MLP on concat(h, cond broadcast)."""

    recurrent = False

    def __init__(self, in_dim, out_dim, cond_dim, hidden, nlayers: int = 2, dropout: float = 0.0):
        super().__init__()
        if nlayers < 1:
            raise MotionlabError(f"coupling net option 'nlayers' must be >= 1, got {nlayers}")
        self.cond_dim = cond_dim
        layers, d = [], in_dim + cond_dim
        for _ in range(nlayers):
            layers += [nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        self.body = nn.Sequential(*layers)
        self.head = _zero_linear(hidden, out_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None, state=None) -> torch.Tensor:
        return self.head(self.body(_cat_cond(h, cond, self.cond_dim)))


class RecurrentCouplingNet(nn.Module):
    """MoGlow coupling net: LSTM/GRU over per-frame concat(h, cond); causal, with carried state.

    ``forward(h, cond, state)``: with a :class:`~.transform.TransformState` the hidden state starts
    from ``state[self]`` (missing: zeros) and the final one is stored back there, so feeding a
    sequence in chunks with the same state object gives the same outputs as feeding it whole.
    ``cond`` must be per-frame (B, T, Dc) or a single frame (B, 1, Dc) / (B, Dc) broadcast over time.
    """

    recurrent = True

    def __init__(self, in_dim, out_dim, cond_dim, hidden, nlayers: int = 1, dropout: float = 0.0, cell: str = "lstm"):
        super().__init__()
        if nlayers < 1:
            raise MotionlabError(f"coupling net option 'nlayers' must be >= 1, got {nlayers}")
        self.cond_dim, self.cell = cond_dim, cell
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(in_dim + cond_dim, hidden, nlayers, batch_first=True, dropout=dropout if nlayers > 1 else 0.0)
        self.head = _zero_linear(hidden, out_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None, state=None) -> torch.Tensor:
        if cond is not None and cond.dim() == 3 and cond.shape[1] not in (1, h.shape[1]):
            raise MotionlabError(f"{self.cell} coupling nets need per-frame conditioning with {h.shape[1]} frames (or 1), got {cond.shape[1]}")
        y, hidden = self.rnn(_cat_cond(h, cond, self.cond_dim), None if state is None else state.get(self))
        if state is not None:
            state[self] = hidden
        return self.head(y)


class LSTMCouplingNet(RecurrentCouplingNet):
    def __init__(self, in_dim, out_dim, cond_dim, hidden, nlayers: int = 1, dropout: float = 0.0):
        super().__init__(in_dim, out_dim, cond_dim, hidden, nlayers, dropout, cell="lstm")


class GRUCouplingNet(RecurrentCouplingNet):
    def __init__(self, in_dim, out_dim, cond_dim, hidden, nlayers: int = 1, dropout: float = 0.0):
        super().__init__(in_dim, out_dim, cond_dim, hidden, nlayers, dropout, cell="gru")


COUPLING_NETS = {
    "transformer": TransformerCouplingNet,
    "conv": ConvCouplingNet,
    "lstm": LSTMCouplingNet,
    "gru": GRUCouplingNet,
    "ff": FFCouplingNet,
}

_NET_OPTIONS = {
    "transformer": ("nlayers", "nhead", "dropout", "pos_emb", "max_len", "max_rel_dist", "dim_feedforward"),
    "conv": ("nblocks", "kernel_size", "dropout"),
    "lstm": ("nlayers", "dropout"),
    "gru": ("nlayers", "dropout"),
    "ff": ("nlayers", "dropout"),
}


def make_coupling_net(kind: str, in_dim: int, out_dim: int, cond_dim: int = 0, hidden: int = 64, **opts) -> nn.Module:
    """Coupling network by name (see ``COUPLING_NETS``); unknown names or options raise MotionlabError."""
    if kind not in COUPLING_NETS:
        raise MotionlabError(f"option 'net' (coupling network) must be one of {list(COUPLING_NETS)}, got {kind!r}")
    bad = sorted(set(opts) - set(_NET_OPTIONS[kind]))
    if bad:
        raise MotionlabError(f"unknown option(s) {bad} for the {kind!r} coupling network; valid: {list(_NET_OPTIONS[kind])}")
    if hidden < 1:
        raise MotionlabError(f"option 'hidden' must be >= 1, got {hidden}")
    return COUPLING_NETS[kind](in_dim, out_dim, cond_dim or 0, hidden, **opts)
