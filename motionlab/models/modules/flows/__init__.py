"""Normalising flows for motion: Glow/MoGlow/Transflower-style conditional flows with Flow++ couplings."""

from .actnorm import ActNorm, BatchNormFlow
from .coupling import AffineCoupling, FlowPlusPlusCoupling
from .coupling_nets import COUPLING_NETS, make_coupling_net
from .distributions import StandardNormal, StudentT, make_base_distribution
from .flow import Flow
from .mixing import InvertibleLinear

__all__ = [
    "Flow",
    "ActNorm",
    "BatchNormFlow",
    "InvertibleLinear",
    "AffineCoupling",
    "FlowPlusPlusCoupling",
    "make_coupling_net",
    "make_base_distribution",
    "COUPLING_NETS",
    "StandardNormal",
    "StudentT",
]
