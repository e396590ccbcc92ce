"""A Glow-style normalising flow over windows of frames (B, T, D), conditioned on cond.

Each of the ``num_steps`` steps is [norm, InvertibleLinear, coupling], a
:class:`~.transform.CompositeTransform` of three :class:`~.transform.Transform` blocks; the coupling
network is pluggable (Transflower: transformer over cond tokens; MoGlow: LSTM over per-frame cond
with carried state; Flow++: gated convolutions and mixture-of-logistics couplings).
"""

from __future__ import annotations

import functools

import torch

from motionlab.utils.errors import MotionlabError

from .actnorm import ActNorm, BatchNormFlow, IdentityNorm
from .coupling import AffineCoupling, FlowPlusPlusCoupling
from .coupling_nets import COUPLING_NETS, make_coupling_net
from .distributions import BASE_DISTRIBUTIONS, make_base_distribution
from .mixing import InvertibleLinear
from .transform import CompositeTransform, Transform, TransformState

COUPLINGS = ("affine", "flowpp")
NORMS = ("actnorm", "batchnorm", "none")


def _choice(option: str, value, valid) -> None:
    if value not in valid:
        raise MotionlabError(f"flow option {option!r} must be one of {list(valid)}, got {value!r}")


class FlowStep(CompositeTransform):
    """norm -> 1x1 mixing -> coupling (children named ``norm``, ``mixing``, ``coupling``)."""

    def __init__(self, norm: Transform, mixing: Transform, coupling: Transform):
        super().__init__({"norm": norm, "mixing": mixing, "coupling": coupling})


class Flow(Transform):
    """Conditional normalising flow on (B, T, D) windows: a :class:`Transform` (``steps``, a
    composite of :class:`FlowStep`) plus a base distribution.

    ``state`` (a :class:`TransformState`) carries the memory of recurrent coupling nets: passing the
    same object to successive calls continues the sequence, so generating frame by frame with
    carried state equals transforming the whole sequence at once. Extra keyword options go to the
    coupling network (see ``coupling_nets.make_coupling_net``).
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
        self.steps = CompositeTransform(steps)
        self.base = make_base_distribution(dist, dist_param)

    @staticmethod
    def _check_state(state) -> None:
        if state is not None and not isinstance(state, dict):
            raise MotionlabError(f"flow state must be a TransformState (or None), got {type(state).__name__}")

    def forward(self, x: torch.Tensor, cond=None, state: TransformState | None = None):
        """x (B, T, D) -> (z, log|det dz/dx| (B,))."""
        self._check_state(state)
        return self.steps(x, cond, state)

    def inverse(self, z: torch.Tensor, cond=None, state: TransformState | None = None):
        """z (B, T, D) -> (x, log|det dx/dz| (B,))."""
        self._check_state(state)
        return self.steps.inverse(z, cond, state)

    def log_prob(self, x: torch.Tensor, cond=None, state: TransformState | None = None) -> torch.Tensor:
        """log p(x | cond), (B,) summed over frames and features (negate and divide by T*D for a per-dim NLL)."""
        z, logdet = self.forward(x, cond, state)
        return self.base.log_prob(z) + logdet

    def sample(self, cond=None, num_frames: int = 1, temperature: float = 1.0, batch_size: int | None = None, state: TransformState | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Draw x (B, num_frames, D); B from cond (or ``batch_size`` when unconditional). temperature 0 gives the flow image of the mode.

        The base sample is drawn on the flow's device and dtype, unless ``z`` (B, num_frames, D),
        already scaled by the temperature, is given (e.g. :func:`smoothed_noise`).
        """
        if batch_size is None:
            if cond is None:
                raise MotionlabError("Flow.sample needs cond or batch_size")
            batch_size = cond.shape[0]
        if z is None:
            p = next(self.parameters())
            z = self.base.sample((batch_size, num_frames, self.D), temperature, device=p.device, dtype=p.dtype)
        elif tuple(z.shape) != (batch_size, num_frames, self.D):
            raise MotionlabError(f"Flow.sample: z has shape {tuple(z.shape)}, expected {(batch_size, num_frames, self.D)}")
        return self.inverse(z, cond, state)[0]
