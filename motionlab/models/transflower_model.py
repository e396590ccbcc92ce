"""TransflowerModel (Valle-Pérez et al. 2021): a multimodal transformer conditioning a Flow++ with transformer couplings."""

from __future__ import annotations

from motionlab.models.modules.flow_model import TransformerFlowBase


class TransflowerModel(TransformerFlowBase):
    """Transflower: multimodal transformer tokens condition a Flow++ (transformer couplings) over the next frames; NLL."""

    coupling = "flowpp"
    net = "transformer"
