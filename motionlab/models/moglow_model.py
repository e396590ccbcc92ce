"""MoglowModel (Henter et al. 2020): Glow with LSTM affine couplings, conditioned per frame on the recent input frames."""

from __future__ import annotations

import dataclasses

from torch import nn

from motionlab.dataspec import DataSpec
from motionlab.models.modules.autoregressive import WindowSpec
from motionlab.models.modules.flow_model import (
    FlowModelBase,
    ResidualFrames,
    add_flow_model_options,
    frame_conditioning,
)
from motionlab.models.modules.flows import Flow, TransformState
from motionlab.options import add_list_option
from motionlab.utils.errors import MotionlabError


class MoglowModel(FlowModelBase):
    """MoGlow: Glow (actnorm, invertible 1x1, LSTM affine couplings) conditioned per frame on the previous frames of every input."""

    coupling = "affine"
    net = "lstm"
    max_frames_per_step = 1  # a step consumes one frame of LSTM state

    @staticmethod
    def modify_commandline_options(parser, known):
        add_flow_model_options(parser, coupling="affine", net="lstm", transformer=False, hidden=256)
        add_list_option(
            parser, "--input_seq_lens", int, [],
            "frames of each input conditioning one output frame; must equal input_length - output_length + 1 (default: derived from the windows)",
        )
        return parser

    def __init__(self, opt, spec: DataSpec):
        super().__init__(opt, spec)
        s = self.spec
        N = s.output_lengths[0]
        if len(set(s.output_lengths)) != 1:
            raise MotionlabError(f"--output_lengths: MoGlow steps all outputs frame by frame together, so they need one length, got {list(s.output_lengths)}")
        self.contexts = [L - N + 1 for L in s.input_lengths]
        for n, L, c in zip(s.input_modalities, s.input_lengths, self.contexts):
            if c < 1:
                raise MotionlabError(f"--input_lengths: input '{n}' has {L} frames but each of the {N} output frames (--output_lengths) is conditioned on input_length - {N} + 1 frames of it, so it needs at least {N}")
        given = list(getattr(self.opt, "input_seq_lens", None) or [])
        if given and given != self.contexts:
            raise MotionlabError(f"--input_seq_lens {given} does not match the windows: input_lengths - output_length + 1 = {self.contexts} (or leave it empty)")
        # --residual: each frame relative to the last frame conditioning it (frame ctx_i - 1 + t of input i)
        self.residual = ResidualFrames.from_options(self.opt, s, first_reference=[c - 1 for c in self.contexts])
        cond_dim = sum(c * d for c, d in zip(self.contexts, self.input_dims))
        kw = self._glow_kwargs()
        self.flows = nn.ModuleList([Flow(d, cond_dim=cond_dim, **kw) for d in self.output_dims])
        self._gen_spec = dataclasses.replace(s, input_lengths=tuple(self.contexts))

    @property
    def generation_spec(self) -> WindowSpec:
        """Generation reads only the ctx_i frames that condition the next frame."""
        return self._gen_spec

    def condition(self, inputs):
        """(B, N, sum_i ctx_i * D_i) per-frame conditioning of the output window."""
        return frame_conditioning(inputs, self.contexts)

    def compute_loss(self, batch):
        cond = self.condition(batch["inputs"])
        targets = self.residual.targets(batch["inputs"], batch["outputs"])
        lps = [flow.log_prob(y, cond) for flow, y in zip(self.flows, targets)]
        return self.nll_terms(lps, targets)

    def sample_windows(self, inputs, temperature: float = 1.0, state: TransformState | None = None):
        """Sample the output frames conditioned on the input windows; returns (outputs, state).

        With training windows this is the whole output window at once; with the generation
        windows (ctx_i frames each) it is one frame, and passing the returned state back (one
        :class:`TransformState` for all the flows' LSTMs, updated in place) continues the sequence.
        """
        cond = self.condition(inputs)
        state = TransformState() if state is None else state
        outs = [flow.sample(cond, cond.shape[1], temperature, cond.shape[0], state=state) for flow in self.flows]
        return self.residual.outputs(inputs, outs), state

    def generation_step(self, window_inputs, state, *, temperature=1.0, **cond):
        return self.sample_windows(window_inputs, temperature, state)
