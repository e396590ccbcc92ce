"""Shared code of the flow models: Transflower, Transformerflow, Transglower and MoGlow.

* :class:`FlowModelBase` - one conditional :class:`~motionlab.models.modules.flows.Flow` per output
  modality, trained by maximum likelihood. The loss is the NLL in nats per dimension (so val_loss
  compares across models and window sizes); ``nll_nats_per_dim`` and ``bits_per_dim`` are logged.
  Option validation names the options.
* :class:`ResidualFrames` - ``--residual`` for every flow model: the flow models each output frame as
  its change from a reference input frame of the same modality (the last input frame; MoGlow: the
  last frame conditioning that output frame).
* :class:`TransformerFlowBase` - the multimodal transformer encodes the input windows; the first
  ``--conditioning_seq_lens`` tokens of its output condition the flow over the next
  ``--output_lengths`` frames. Its subclasses choose the coupling (Flow++ or affine) and the
  coupling network (transformer, gated convolutions, LSTM).
* :func:`frame_conditioning` - MoGlow's per-frame conditioning by ``unfold``.

Generation calls ``Flow.sample`` (base sample drawn on the device; the blocks' inverses are the fast
ones: cached inverse 1x1 mixings, safeguarded Newton inversion of the Flow++ mixture CDF).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionlab.dataspec import DataSpec
from motionlab.models.base_model import BaseModel
from motionlab.models.modules.autoregressive import WindowSpec
from motionlab.models.modules.flows import Flow
from motionlab.models.modules.flows.distributions import smoothed_noise
from motionlab.models.modules.flows.coupling_nets import TRANSFORMER_POS_EMBS
from motionlab.models.modules.transformer import (
    MultimodalTransformer,
    PositionalEncoding,
    add_transformer_options,
    transformer_kwargs,
)
from motionlab.options import add_bool_option, add_list_option, bounded
from motionlab.utils.errors import MotionlabError

NORM_LAYERS = ("actnorm", "batchnorm", "none")
FLOW_DISTS = ("normal", "studentt")
LN2 = math.log(2.0)


# ------------------------------------------------------------------------------ option helpers


def check_choice(option: str, value, choices) -> None:
    if value not in choices:
        raise MotionlabError(f"--{option} must be one of {list(choices)}, got {value!r}")


def check_min(option: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise MotionlabError(f"--{option} must be an integer >= {minimum}, got {value!r}")


def add_glow_options(parser, *, steps: int = 8, hidden: int = 128, nlayers: int = 2, norm: str = "actnorm"):
    """Options of the Glow part shared by every flow model."""
    parser.add_argument("--num_glow_coupling_blocks", type=int, default=steps, help="flow steps (norm, invertible 1x1, coupling)")
    parser.add_argument("--glow_norm_layer", default=norm, choices=list(NORM_LAYERS), help="normalisation layer of each flow step")
    parser.add_argument("--flow_hidden", type=int, default=hidden, help="width of the coupling networks")
    parser.add_argument("--flow_nlayers", type=int, default=nlayers, help="layers (blocks) of each coupling network")
    parser.add_argument("--flow_dropout", type=float, default=0.0, help="dropout inside the coupling networks")
    parser.add_argument("--flow_dist", default="normal", choices=list(FLOW_DISTS), help="base distribution")
    parser.add_argument("--flow_dist_param", type=float, default=10.0, help="studentt: degrees of freedom")
    add_bool_option(parser, "--lu_decomposition", True, "LU-parametrised invertible 1x1 mixings (O(D) log-det)")
    return parser


def add_conditioning_options(parser):
    """Options of the transformer that conditions the flow (the Transflower family)."""
    add_transformer_options(parser)
    add_list_option(parser, "--conditioning_seq_lens", int, [], "transformer output tokens conditioning each output's flow (default: its output length)")
    add_bool_option(parser, "--use_pos_emb_output", False, "add learned position embeddings to the conditioning tokens")
    return parser


def add_coupling_net_options(parser, net: str):
    """Options of one kind of coupling network (each net rejects the options of the others)."""
    if net == "transformer":
        parser.add_argument("--flow_nhead", type=int, default=4, help="attention heads of the coupling transformers")
        parser.add_argument("--flow_pos_emb", default="sinusoidal", choices=list(TRANSFORMER_POS_EMBS), help="positions in the coupling transformers")
        parser.add_argument("--flow_max_rel_dist", type=int, default=32, help="flow_pos_emb relative: largest distinguished distance")
    elif net == "conv":
        parser.add_argument("--flow_kernel_size", type=int, default=3, help="odd kernel size of the gated convolutions")
    return parser


def coupling_net_kwargs(o, net: str) -> dict:
    """Validated keyword options of the coupling network ``net`` from the model options."""
    kw = {"dropout": float(_opt(o, "flow_dropout", 0.0))}
    if net == "transformer":
        check_min("flow_nhead", _opt(o, "flow_nhead"))
        if o.flow_hidden % o.flow_nhead:
            raise MotionlabError(f"--flow_hidden ({o.flow_hidden}) must be divisible by --flow_nhead ({o.flow_nhead})")
        check_choice("flow_pos_emb", _opt(o, "flow_pos_emb"), TRANSFORMER_POS_EMBS)
        check_min("flow_max_rel_dist", _opt(o, "flow_max_rel_dist", 32))
        kw.update(nlayers=o.flow_nlayers, nhead=o.flow_nhead, pos_emb=o.flow_pos_emb, max_rel_dist=_opt(o, "flow_max_rel_dist", 32))
    elif net == "conv":
        k = _opt(o, "flow_kernel_size", 3)
        if not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise MotionlabError(f"--flow_kernel_size must be an odd positive integer, got {k!r}")
        kw.update(nblocks=o.flow_nlayers, kernel_size=k)
    elif net in ("lstm", "gru"):
        kw.update(nlayers=o.flow_nlayers)
    return kw


def add_flow_model_options(parser, *, coupling: str, net: str, transformer: bool = True, **glow_defaults):
    """Every option of a flow model: the conditioning transformer (if any), the Glow, the coupling and its net."""
    if transformer:
        add_conditioning_options(parser)
    add_glow_options(parser, **glow_defaults)
    add_bool_option(parser, "--residual", False, "the flow models each output frame's change from the last input frame of the same modality (MoGlow: the last frame conditioning it)")
    parser.add_argument("--residual_decay", type=bounded(float, 0.0, 1.0, what="a number"), default=1.0, help="--residual: the reference is this fraction of the last frame (scaled features, so 0 is the train mean); below 1 a rollout reverts to the mean instead of random-walking away (1: the plain change)")
    if coupling == "flowpp":
        parser.add_argument("--num_mixture_components", type=int, default=4, help="logistic mixture components of the Flow++ couplings")
    return add_coupling_net_options(parser, net)


def _opt(o, name, default=None):
    return getattr(o, name, default)


def frame_conditioning(inputs: list[torch.Tensor], contexts: list[int]) -> torch.Tensor:
    """MoGlow conditioning: (B, L_i, D_i) windows -> (B, N, sum_i ctx_i * D_i), N = L_i - ctx_i + 1.

    Frame t gets frames [t, t + ctx_i) of every input i (flattened frame-major), built with ``unfold``.
    """
    parts = []
    for x, c in zip(inputs, contexts):
        parts.append(x.unfold(1, c, 1).transpose(2, 3).flatten(2))  # (B, N, c, D_i) -> (B, N, c * D_i)
    return torch.cat(parts, -1)


# ------------------------------------------------------------------------------ --residual


class ResidualFrames:
    """``--residual`` in one place: the flow models y - r, each output frame minus a reference frame r
    of the same modality taken from the input windows; sampling adds r back.

    Modelling changes rather than poses keeps the flow near the identity for smooth motion. The
    reference of output frame t is the last frame of the input window (``first_reference=None``,
    the Transflower family: the frame just before the outputs) or frame ``first_reference[i] + t``
    of input i (MoGlow: the last of the frames conditioning frame t), times ``decay``. With
    ``decay`` 1 a rollout is a random walk: any bias of the sampled changes accumulates without
    bound. Below 1 (features are scaled, so 0 is the train mean) it is mean-reverting: a bias b
    settles at b / (1 - decay). Disabled, it passes targets and samples through unchanged.
    """

    def __init__(self, sources: list[int] | None, first_reference: list[int] | None = None, decay: float = 1.0):
        self.sources = sources  # per output: index of the input of the same modality (None: disabled)
        self.first_reference = first_reference
        self.decay = float(decay)

    @classmethod
    def from_options(cls, opt, spec: WindowSpec, first_reference: list[int] | None = None) -> "ResidualFrames":
        """From ``--residual``; every output must also be an input (there is nothing to take a change from otherwise)."""
        if not _opt(opt, "residual", False):
            return cls(None)
        sources = []
        for n in spec.output_modalities:
            if n not in spec.input_modalities:
                raise MotionlabError(f"--residual: output '{n}' is not an input modality, so there is no last input frame to model the difference from")
            sources.append(spec.input_modalities.index(n))
        return cls(sources, first_reference, float(_opt(opt, "residual_decay", 1.0)))

    @property
    def enabled(self) -> bool:
        return self.sources is not None

    def references(self, inputs: list[torch.Tensor], n_frames: int) -> list[torch.Tensor]:
        """Per output, its reference frames: (B, 1, D) broadcast over the output frames, or (B, n_frames, D)."""
        if self.first_reference is None:
            refs = [inputs[i][:, -1:] for i in self.sources]
        else:
            refs = [inputs[i][:, self.first_reference[i] : self.first_reference[i] + n_frames] for i in self.sources]
        return refs if self.decay == 1.0 else [self.decay * r for r in refs]

    def targets(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """What the flows model: the outputs, or their changes from the references."""
        if not self.enabled:
            return list(outputs)
        return [y - r for y, r in zip(outputs, self.references(inputs, outputs[0].shape[1]))]

    def outputs(self, inputs: list[torch.Tensor], samples: list[torch.Tensor]) -> list[torch.Tensor]:
        """Inverse of :meth:`targets`: flow samples back to output frames."""
        if not self.enabled:
            return list(samples)
        return [x + r.to(x.dtype) for x, r in zip(samples, self.references(inputs, samples[0].shape[1]))]


# ------------------------------------------------------------------------------ models


class FlowModelBase(BaseModel):
    """Abstract: one conditional flow per output modality, NLL per dimension as the loss."""

    coupling = "affine"
    net = "lstm"

    def __init__(self, opt, spec: DataSpec):
        super().__init__(opt, spec)
        self._validate_windows()

    # ---- validation and construction
    def _validate_windows(self):
        s = self.spec
        if not s.output_modalities or not s.input_modalities:
            raise MotionlabError("--input_modalities and --output_modalities must each name at least one feature")
        if len(s.output_lengths) != len(s.output_modalities) or len(s.input_lengths) != len(s.input_modalities):
            raise MotionlabError(f"--input_lengths / --output_lengths need one value per modality, got {list(s.input_lengths)} for {list(s.input_modalities)} and {list(s.output_lengths)} for {list(s.output_modalities)}")
        for n, L in zip(s.output_modalities, s.output_lengths):
            if L < 1:
                raise MotionlabError(f"--output_lengths: output '{n}' has length {L}; a flow needs at least 1 frame")
        for n, L in zip(s.input_modalities, s.input_lengths):
            if L < 1:
                raise MotionlabError(f"--input_lengths: input '{n}' has length {L}; must be >= 1")
        for n, d in zip(s.output_modalities, self.output_dims):
            if d < 2:
                raise MotionlabError(f"--output_modalities: output '{n}' has {d} feature(s); a flow's couplings split the features in two, so it needs at least 2")

    def _glow_kwargs(self) -> dict:
        o = self.opt
        check_min("num_glow_coupling_blocks", _opt(o, "num_glow_coupling_blocks"))
        check_choice("glow_norm_layer", _opt(o, "glow_norm_layer"), NORM_LAYERS)
        check_min("flow_hidden", _opt(o, "flow_hidden"))
        check_min("flow_nlayers", _opt(o, "flow_nlayers"))
        check_choice("flow_dist", _opt(o, "flow_dist"), FLOW_DISTS)
        dist_param = _opt(o, "flow_dist_param", 10.0)
        if o.flow_dist == "studentt" and not (dist_param is not None and float(dist_param) > 0 and math.isfinite(float(dist_param))):
            raise MotionlabError(f"--flow_dist_param (Student-t degrees of freedom) must be a positive number, got {dist_param!r}")
        kw = dict(
            num_steps=o.num_glow_coupling_blocks, coupling=self.coupling, net=self.net, hidden=o.flow_hidden, norm=o.glow_norm_layer,
            lu=bool(_opt(o, "lu_decomposition", True)), dist=o.flow_dist, dist_param=None if dist_param is None else float(dist_param),
        )
        if self.coupling == "flowpp":
            check_min("num_mixture_components", _opt(o, "num_mixture_components"))
            kw["num_mixture_components"] = o.num_mixture_components
        kw.update(self.coupling_net_options())
        return kw

    def coupling_net_options(self) -> dict:
        """Keyword options of the coupling network (``Flow(**net_opts)``)."""
        return coupling_net_kwargs(self.opt, self.net)

    # ---- loss
    @staticmethod
    def nll_terms(log_probs: list[torch.Tensor], targets: list[torch.Tensor]):
        """(mean NLL per dimension in nats, terms) from per-sample log-likelihoods of each output."""
        dims = sum(y.shape[1] * y.shape[2] for y in targets)
        nats = -(sum(log_probs) / dims).mean()
        return nats, {"nll_nats_per_dim": nats.detach(), "bits_per_dim": nats.detach() / LN2}


class TransformerFlowBase(FlowModelBase):
    """Abstract: multimodal-transformer tokens condition a flow over the next output frames."""

    coupling = "flowpp"
    net = "transformer"

    @classmethod
    def modify_commandline_options(cls, parser, known):
        """The options of this class's coupling and coupling network (subclasses only set the two attributes)."""
        return add_flow_model_options(parser, coupling=cls.coupling, net=cls.net)

    def __init__(self, opt, spec: DataSpec):
        super().__init__(opt, spec)
        o, s = self.opt, self.spec
        check_min("dhid", _opt(o, "dhid"))
        check_min("nhead", _opt(o, "nhead"))
        if o.dhid % o.nhead:
            raise MotionlabError(f"--dhid ({o.dhid}) must be divisible by --nhead ({o.nhead})")
        self.cond_lens = self._conditioning_lengths()
        self.residual = ResidualFrames.from_options(o, s)  # every output frame relative to the last input frame
        self.transformer = MultimodalTransformer(
            list(self.input_dims), self.cond_lens, [o.dhid] * len(self.output_dims), o.dhid, o.nhead, o.nlayers, o.input_nlayers, o.dropout, o.pos_emb,
            max_len=sum(s.input_lengths) + 1, **transformer_kwargs(o),
        )
        self.output_pos = nn.ModuleList([PositionalEncoding(o.dhid, "learned", c) for c in self.cond_lens]) if _opt(o, "use_pos_emb_output", False) else None
        kw = self._glow_kwargs()
        self.flows = nn.ModuleList([Flow(d, cond_dim=o.dhid, **kw) for d in self.output_dims])

    def _conditioning_lengths(self) -> list[int]:
        s = self.spec
        lens = list(_opt(self.opt, "conditioning_seq_lens", None) or s.output_lengths)
        if len(lens) == 1 and len(s.output_modalities) > 1:
            lens = lens * len(s.output_modalities)
        if len(lens) != len(s.output_modalities):
            raise MotionlabError(f"--conditioning_seq_lens has {len(lens)} values {lens} but there are {len(s.output_modalities)} output modalities")
        total = sum(s.input_lengths)
        for c in lens:
            if not isinstance(c, int) or c < 1 or c > total:
                raise MotionlabError(f"--conditioning_seq_lens: {c} must be between 1 and the total number of input tokens ({total} = sum of --input_lengths {list(s.input_lengths)})")
        return lens

    def condition(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Input windows -> per output, (B, conditioning_seq_len, dhid) tokens."""
        tokens = self.transformer(inputs)
        if self.output_pos is not None:
            tokens = [pe(t) for pe, t in zip(self.output_pos, tokens)]
        return tokens

    def compute_loss(self, batch):
        inputs, outputs = batch["inputs"], batch["outputs"]
        cond = self.condition(inputs)
        targets = self.residual.targets(inputs, outputs)
        lps = [flow.log_prob(y, c) for flow, y, c in zip(self.flows, targets, cond)]
        return self.nll_terms(lps, targets)

    def sample_windows(self, inputs: list[torch.Tensor], temperature: float = 1.0, noise: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """One sample of every output window given the input windows (B, L_i, D_i); ``noise``: per output, its base draws (scaled)."""
        B = inputs[0].shape[0]
        cond = self.condition(inputs)
        noise = noise or [None] * len(self.flows)
        xs = [flow.sample(c, L, temperature, B, z=z) for flow, c, L, z in zip(self.flows, cond, self.spec.output_lengths, noise)]
        return self.residual.outputs(inputs, xs)

    @classmethod
    def modify_generation_options(cls, parser):
        super().modify_generation_options(parser)
        parser.add_argument(
            "--noise_smoothing", type=bounded(float, 0.0, 1.0, what="a number"), default=0.0,
            help="correlation of the flow's base draws from one step to the next (0: independent, as trained; e.g. 0.9: every frame is still a draw of the model's distribution, but consecutive frames no longer jitter independently)",
        )
        return parser

    def generation_step(self, window_inputs, state, *, temperature=1.0, noise_smoothing: float = 0.0, **cond):
        """One step; with ``noise_smoothing`` the state carries each flow's last base draw (see ``smoothed_noise``)."""
        if not noise_smoothing or temperature == 0:
            return self.sample_windows(window_inputs, temperature), state
        B, p = window_inputs[0].shape[0], next(self.parameters())
        previous = state if state is not None else [None] * len(self.flows)
        draws = [
            smoothed_noise(flow.base, (B, L, d), temperature, noise_smoothing, prev, device=p.device, dtype=p.dtype)
            for flow, L, d, prev in zip(self.flows, self.spec.output_lengths, self.output_dims, previous)
        ]
        outputs = self.sample_windows(window_inputs, temperature, noise=[z * temperature for z in draws])
        return outputs, [z[:, -1] for z in draws]
