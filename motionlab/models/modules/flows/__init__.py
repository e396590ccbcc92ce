"""Normalising flows for motion: Glow/MoGlow/Transflower-style conditional flows with Flow++ couplings.

Every block is a :class:`Transform` (``forward``/``inverse`` -> (outputs, logdet)); see ``transform.py``.
"""

from .actnorm import ActNorm, BatchNormFlow, IdentityNorm
from .coupling import AffineCoupling, FlowPlusPlusCoupling
from .coupling_nets import COUPLING_NETS, make_coupling_net
from .distributions import StandardNormal, StudentT, make_base_distribution
from .flow import Flow, FlowStep
from .mixing import InvertibleLinear
from .transform import CompositeTransform, Transform, TransformState

__all__ = [
    "Transform",
    "CompositeTransform",
    "TransformState",
    "Flow",
    "FlowStep",
    "ActNorm",
    "BatchNormFlow",
    "IdentityNorm",
    "InvertibleLinear",
    "AffineCoupling",
    "FlowPlusPlusCoupling",
    "make_coupling_net",
    "make_base_distribution",
    "COUPLING_NETS",
    "StandardNormal",
    "StudentT",
]
