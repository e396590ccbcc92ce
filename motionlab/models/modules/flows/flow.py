"""A Glow-style normalising flow over windows of frames (B, T, D), conditioned on cond.

Each of the ``num_steps`` steps is [norm, InvertibleLinear, coupling]; the coupling network is
pluggable (Transflower: transformer over cond tokens; MoGlow: LSTM over per-frame cond with
carried state; Flow++: gated convolutions and mixture-of-logistics couplings).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from motionlab.utils.errors import MotionlabError

from .actnorm import ActNorm, BatchNormFlow, IdentityNorm
from .coupling import AffineCoupling, FlowPlusPlusCoupling
from .coupling_nets import COUPLING_NETS, make_coupling_net
from .distributions import BASE_DISTRIBUTIONS, make_base_distribution
from .mixing import InvertibleLinear

COUPLINGS = ("affine", "flowpp")
NORMS = ("actnorm", "batchnorm", "none")


def _choice(option: str, value, valid) -> None:
    if value not in valid:
        raise MotionlabError(f"flow option {option!r} must be one of {list(valid)}, got {value!r}")


class FlowStep(nn.Module):
    """norm -> 1x1 mixing -> coupling."""

    def __init__(self, norm: nn.Module, mixing: nn.Module, coupling: nn.Module):
        super().__init__()
        self.norm, self.mixing, self.coupling = norm, mixing, coupling

    def forward(self, x, cond=None, state=None):
        x, ld1 = self.norm(x)
        x, ld2 = self.mixing(x)
        x, ld3, state = self.coupling(x, cond, state=state, return_state=True)
        return x, ld1 + ld2 + ld3, state

    def inverse(self, z, cond=None, state=None):
        z, state = self.coupling.inverse(z, cond, state=state, return_state=True)
        return self.norm.inverse(self.mixing.inverse(z)), state


class Flow(nn.Module):
    """Conditional normalising flow on (B, T, D) windows.

    ``state`` (recurrent coupling nets only) is a list with one entry per step, as returned with
    ``return_state=True``; passing it back continues the sequence, so generating frame by frame
    with carried state equals transforming the whole sequence at once. Extra keyword options go
    to the coupling network (see ``coupling_nets.make_coupling_net``).
    """

    def __init__(
        self,
        D: int,
        num_steps: int = 4,
        coupling: str = "affine",
        net: str = "transformer",
        hidden: int = 64,
        cond_dim: int = 0,
        norm: str = "actnorm",
        lu: bool = True,
        num_mixture_components: int = 4,
        dist: str = "normal",
        dist_param: float | None = None,
        scale_clamp: float = 2.0,
        **net_opts,
    ):
        super().__init__()
        if not isinstance(D, int) or D < 2:
            raise MotionlabError(f"flow option 'D' (feature dimension) must be >= 2 so the coupling can split it, got {D!r}")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise MotionlabError(f"flow option 'num_steps' must be >= 1, got {num_steps!r}")
        _choice("coupling", coupling, COUPLINGS)
        _choice("net", net, COUPLING_NETS)
        _choice("norm", norm, NORMS)
        _choice("dist", dist, BASE_DISTRIBUTIONS)
        if coupling == "flowpp" and (not isinstance(num_mixture_components, int) or num_mixture_components < 1):
            raise MotionlabError(f"flow option 'num_mixture_components' must be >= 1, got {num_mixture_components!r}")
        if cond_dim is None or cond_dim < 0:
            raise MotionlabError(f"flow option 'cond_dim' must be >= 0, got {cond_dim!r}")
        self.D, self.cond_dim = D, cond_dim
        self.recurrent = COUPLING_NETS[net].recurrent
        factory = functools.partial(make_coupling_net, net, cond_dim=cond_dim, hidden=hidden, **net_opts)
        steps = []
        for _ in range(num_steps):
            norm_layer = {"actnorm": ActNorm, "batchnorm": BatchNormFlow, "none": lambda d: IdentityNorm()}[norm](D)
            if coupling == "affine":
                c = AffineCoupling(D, factory, scale_clamp=scale_clamp)
            else:
                c = FlowPlusPlusCoupling(D, factory, num_mixture_components, scale_clamp=scale_clamp)
            steps.append(FlowStep(norm_layer, InvertibleLinear(D, lu=lu), c))
        self.steps = nn.ModuleList(steps)
        self.base = make_base_distribution(dist, dist_param)

    def _states(self, state):
        if state is None:
            return [None] * len(self.steps)
        if len(state) != len(self.steps):
            raise MotionlabError(f"flow state has {len(state)} entries, expected one per step ({len(self.steps)})")
        return list(state)

    def forward(self, x: torch.Tensor, cond=None, state=None, return_state: bool = False):
        """x (B, T, D) -> (z, logdet (B,)) [, state]."""
        states = self._states(state)
        logdet = x.new_zeros(x.shape[0])
        for i, step in enumerate(self.steps):
            x, ld, states[i] = step(x, cond, states[i])
            logdet = logdet + ld
        return (x, logdet, states) if return_state else (x, logdet)

    def inverse(self, z: torch.Tensor, cond=None, state=None, return_state: bool = False):
        """z (B, T, D) -> x [, state]."""
        states = self._states(state)
        for i in reversed(range(len(self.steps))):
            z, states[i] = self.steps[i].inverse(z, cond, states[i])
        return (z, states) if return_state else z

    def log_prob(self, x: torch.Tensor, cond=None, state=None, return_state: bool = False):
        """log p(x | cond), (B,) summed over frames and features (negate and divide by T*D for a per-dim NLL)."""
        z, logdet, states = self.forward(x, cond, state, return_state=True)
        lp = self.base.log_prob(z) + logdet
        return (lp, states) if return_state else lp

    def sample(self, cond=None, num_frames: int = 1, temperature: float = 1.0, batch_size: int | None = None, state=None, return_state: bool = False):
        """Draw x (B, num_frames, D); B from cond (or ``batch_size`` when unconditional). temperature 0 gives the flow image of the mode."""
        if batch_size is None:
            if cond is None:
                raise MotionlabError("Flow.sample needs cond or batch_size")
            batch_size = cond.shape[0]
        p = next(self.parameters())
        z = self.base.sample((batch_size, num_frames, self.D), temperature, device=p.device, dtype=p.dtype)
        return self.inverse(z, cond, state, return_state)
