"""TransformerflowModel: Transflower with the Flow++ default gated-convolution coupling networks."""

from __future__ import annotations

from motionlab.models.modules.flow_model import add_flow_model_options
from motionlab.models.transflower_model import TransflowerModel


class TransformerflowModel(TransflowerModel):
    """Transformerflow: Transflower whose Flow++ couplings are gated residual convolutions over time."""

    net = "conv"

    @staticmethod
    def modify_commandline_options(parser):
        return add_flow_model_options(parser, coupling="flowpp", net="conv")
