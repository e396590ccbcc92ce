"""TransformerflowModel: Transflower with the Flow++ default gated-convolution coupling networks."""

from __future__ import annotations

from motionlab.models.transflower_model import TransflowerModel


class TransformerflowModel(TransflowerModel):
    """Transformerflow: Transflower whose Flow++ couplings are gated residual convolutions over time."""

    net = "conv"
