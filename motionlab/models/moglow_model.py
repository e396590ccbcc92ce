"""MoglowModel (Henter et al. 2020): Glow with LSTM affine couplings, conditioned per frame on the recent input frames."""

from __future__ import annotations

import dataclasses

from torch import nn

from motionlab.models.modules.autoregressive import WindowSpec
from motionlab.models.modules.flow_model import (
    FlowModelBase,
    add_flow_model_options,
    frame_conditioning,
)
from motionlab.models.modules.flows import Flow
from motionlab.options import add_bool_option, add_list_option
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
        add_bool_option(parser, "--residual", False, "each output frame is modelled as its difference from the last conditioning frame of the same modality")
        return parser

    def __init__(self, opt, input_dims, output_dims, num_speakers=0):
        super().__init__(opt, input_dims, output_dims, num_speakers)
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
        self.residual_sources = self._residual_sources()
        cond_dim = sum(c * d for c, d in zip(self.contexts, input_dims))
        kw = self._glow_kwargs()
        self.flows = nn.ModuleList([Flow(d, cond_dim=cond_dim, **kw) for d in output_dims])
        self._gen_spec = dataclasses.replace(s, input_lengths=tuple(self.contexts))

    @property
    def generation_spec(self) -> WindowSpec:
        """Generation reads only the ctx_i frames that condition the next frame."""
        return self._gen_spec

    def condition(self, inputs):
        """(B, N, sum_i ctx_i * D_i) per-frame conditioning of the output window."""
        return frame_conditioning(inputs, self.contexts)

    def _references(self, inputs, n_frames: int):
        """Per output frame, the last conditioning frame of the same modality (--residual); None otherwise."""
        if self.residual_sources is None:
            return None
        return [inputs[i][:, self.contexts[i] - 1 : self.contexts[i] - 1 + n_frames] for i in self.residual_sources]

    def compute_loss(self, batch):
        cond = self.condition(batch["inputs"])
        targets = list(batch["outputs"])
        refs = self._references(batch["inputs"], targets[0].shape[1])
        if refs is not None:
            targets = [y - r for y, r in zip(targets, refs)]
        lps = [flow.log_prob(y, cond) for flow, y in zip(self.flows, targets)]
        return self.nll_terms(lps, targets)

    def sample_windows(self, inputs, temperature: float = 1.0, state=None):
        """Sample the output frames conditioned on the input windows; returns (outputs, flow states).

        With training windows this is the whole output window at once; with the generation
        windows (ctx_i frames each) it is one frame, and passing the state back continues the sequence.
        """
        cond = self.condition(inputs)
        states = state or [None] * len(self.flows)
        outs, new_states = [], []
        for flow, st in zip(self.flows, states):
            x, st = flow.sample(cond, cond.shape[1], temperature, cond.shape[0], state=st, return_state=True)
            outs.append(x)
            new_states.append(st)
        refs = self._references(inputs, cond.shape[1])
        if refs is not None:
            outs = [x + r.to(x.dtype) for x, r in zip(outs, refs)]
        return outs, new_states

    def generation_step(self, window_inputs, state, *, temperature=1.0, **cond):
        return self.sample_windows(window_inputs, temperature, state)
