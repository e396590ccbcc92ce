"""TransglowerModel: the multimodal transformer conditioning a MoGlow-style Glow (LSTM affine couplings)."""

from __future__ import annotations

from motionlab.models.modules.flow_model import TransformerFlowBase
from motionlab.utils.errors import MotionlabError


class TransglowerModel(TransformerFlowBase):
    """Transglower: transformer tokens (one per output frame, or one for all) condition a Glow with LSTM affine couplings."""

    coupling = "affine"
    net = "lstm"

    def _conditioning_lengths(self):
        lens = super()._conditioning_lengths()
        for n, c, L in zip(self.spec.output_modalities, lens, self.spec.output_lengths):
            if c not in (1, L):
                raise MotionlabError(f"--conditioning_seq_lens: the LSTM couplings of output '{n}' take one token per output frame ({L}) or a single token, got {c}")
        return lens
