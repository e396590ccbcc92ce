"""TransformerModel: the deterministic multimodal transformer of Transflower, trained with MSE."""

from __future__ import annotations

import torch.nn.functional as F

from motionlab.models.base_model import BaseModel
from motionlab.models.modules.transformer import MultimodalTransformer, add_transformer_options, transformer_kwargs
from motionlab.utils.errors import MotionlabError


class TransformerModel(BaseModel):
    """Multimodal transformer: per-modality encoders + cross-modal transformer, MSE on the next frames."""

    @staticmethod
    def modify_commandline_options(parser, known):
        return add_transformer_options(parser)

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        if o.dhid % o.nhead:
            raise MotionlabError(f"--dhid ({o.dhid}) must be divisible by --nhead ({o.nhead})")
        if max(self.spec.output_lengths) > sum(self.spec.input_lengths):
            raise MotionlabError(f"--output_lengths {list(self.spec.output_lengths)} cannot exceed the total input length {sum(self.spec.input_lengths)}")
        self.net = MultimodalTransformer(
            self.input_dims, list(self.spec.output_lengths), self.output_dims, o.dhid, o.nhead, o.nlayers, o.input_nlayers, o.dropout, o.pos_emb,
            max_len=sum(self.spec.input_lengths) + 1, **transformer_kwargs(o),
        )

    def forward(self, inputs):
        return self.net(inputs)

    def compute_loss(self, batch):
        preds = self(batch["inputs"])
        terms = {f"mse_{n}": F.mse_loss(p, y) for n, p, y in zip(self.output_modalities, preds, batch["outputs"])}
        return sum(terms.values()), terms

    def generation_step(self, window_inputs, state, *, temperature=1.0, **cond):
        return self(window_inputs), state
