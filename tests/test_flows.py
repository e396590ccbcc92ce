"""Normalising-flow building blocks: the Transform contract (inverse(forward(x)) == x, inverse log-det ==
-forward log-det, with and without cond and state), exact log-dets (vs autograd Jacobians), state
carrying of the recurrent (MoGlow) couplings, base distributions, option validation, and a tiny fit."""

from __future__ import annotations

import math
import functools

import numpy as np
import pytest
import scipy.stats
import torch

from motionlab.models.modules.flows import (
    COUPLING_NETS,
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    CompositeTransform,
    Flow,
    FlowPlusPlusCoupling,
    FlowStep,
    IdentityNorm,
    InvertibleLinear,
    Transform,
    TransformState,
    make_base_distribution,
    make_coupling_net,
)
from motionlab.models.modules.flows.coupling_nets import RecurrentCouplingNet
from motionlab.utils.errors import MotionlabError

torch.set_num_threads(1)

HID = 8
COND_DIM = 2
# (net kind, options): every coupling network, the transformer with absolute and relative positions
NETS = [
    ("transformer", dict(nlayers=1, nhead=2, pos_emb="sinusoidal")),
    ("transformer", dict(nlayers=1, nhead=2, pos_emb="relative", max_rel_dist=2)),
    ("conv", dict(nblocks=1, kernel_size=3)),
    ("lstm", {}),
    ("gru", dict(nlayers=2)),
    ("ff", dict(nlayers=1)),
]
NET_IDS = [f"{k}-{o.get('pos_emb', '')}".rstrip("-") for k, o in NETS]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def perturb(module: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    """Move every parameter off its (identity) initialisation and mark data-dependent inits done."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, ActNorm):
                m.initialized.fill_(True)
            if isinstance(m, BatchNormFlow):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return module.double().eval()


def make_cond(kind: str, B: int, T: int) -> torch.Tensor:
    """Per-frame cond for the recurrent nets, a different number of tokens (pooled / attended) for the rest."""
    Tc = T if kind in ("lstm", "gru") else T + 2
    return torch.randn(B, Tc, COND_DIM, dtype=torch.float64)


def as_tuple(hidden) -> tuple:
    """An LSTM's (h, c) or a GRU's h as a tuple of tensors."""
    return hidden if isinstance(hidden, tuple) else (hidden,)


def check_block(block, x, cond=None, tol=1e-4):
    """inverse(forward(x)) == x, inverse log-det == -logdet, and logdet == log|det J| per batch element (J of the whole window)."""
    B, N = x.shape[0], x[0].numel()
    z, logdet = block(x, cond)
    assert logdet.shape == (B,)
    assert not torch.allclose(z, x, atol=1e-3), "block is still the identity; perturbation failed"
    with torch.no_grad():
        x_rec, logdet_inv = block.inverse(z, cond)
    torch.testing.assert_close(x_rec, x, atol=tol, rtol=0)
    torch.testing.assert_close(logdet_inv, -logdet.detach(), atol=tol, rtol=0)
    J = torch.autograd.functional.jacobian(lambda inp: block(inp, cond)[0], x).reshape(B, N, B, N)
    for b in range(B):
        torch.testing.assert_close(logdet[b], torch.linalg.slogdet(J[b, :, b, :])[1], atol=1e-6, rtol=1e-6)
        for b2 in range(B):
            if b2 != b:
                assert J[b, :, b2, :].abs().max() < 1e-10, "batch elements interact"


@pytest.mark.parametrize("D", [3, 4])
@pytest.mark.parametrize("block", ["actnorm", "batchnorm", "linear-lu", "linear-full"])
def test_norm_and_mixing_blocks(block, D):
    layer = {"actnorm": lambda: ActNorm(D), "batchnorm": lambda: BatchNormFlow(D), "linear-lu": lambda: InvertibleLinear(D, lu=True), "linear-full": lambda: InvertibleLinear(D, lu=False)}[block]()
    check_block(perturb(layer), torch.randn(2, 3, D, dtype=torch.float64))


@pytest.mark.parametrize("coupling", ["affine", "flowpp"])
@pytest.mark.parametrize("net,opts", NETS, ids=NET_IDS)
def test_couplings_invert_and_logdet(net, opts, coupling):
    D, T = (3, 3) if coupling == "affine" else (4, 2)
    factory = functools.partial(make_coupling_net, net, cond_dim=COND_DIM, hidden=HID, **opts)
    layer = AffineCoupling(D, factory) if coupling == "affine" else FlowPlusPlusCoupling(D, factory, num_mixture_components=3)
    # a zero-initialised last layer makes the coupling start as the identity
    x = torch.randn(2, T, D, dtype=torch.float64)
    cond = make_cond(net, 2, T)
    with torch.no_grad():
        z0, ld0 = layer.double()(x, cond)
    torch.testing.assert_close(z0, x, atol=1e-6, rtol=0)
    assert ld0.abs().max() < 1e-6
    check_block(perturb(layer), x, cond)


NORM_BLOCKS = {
    "actnorm": lambda D: ActNorm(D),
    "batchnorm": lambda D: BatchNormFlow(D),
    "identity": lambda D: IdentityNorm(),
    "linear-lu": lambda D: InvertibleLinear(D, lu=True),
    "linear-full": lambda D: InvertibleLinear(D, lu=False),
}
COUPLING_BLOCKS = {f"{c}-{i}": (c, net, opts) for c in ("affine", "flowpp") for (net, opts), i in zip(NETS, NET_IDS)}
COMPOUND_BLOCKS = ("flowstep", "flow", "composite")


def make_transform(kind: str, D: int, cond_dim: int) -> tuple[Transform, str]:
    """(a block of the given type moved off its identity initialisation, its coupling net kind or '')."""
    if kind in NORM_BLOCKS:
        return perturb(NORM_BLOCKS[kind](D)), ""
    if kind in COUPLING_BLOCKS:
        coupling, net, opts = COUPLING_BLOCKS[kind]
        factory = functools.partial(make_coupling_net, net, cond_dim=cond_dim, hidden=HID, **opts)
        layer = AffineCoupling(D, factory) if coupling == "affine" else FlowPlusPlusCoupling(D, factory, num_mixture_components=3)
        return perturb(layer), net
    lstm = functools.partial(make_coupling_net, "lstm", cond_dim=cond_dim, hidden=HID)
    ff = functools.partial(make_coupling_net, "ff", cond_dim=cond_dim, hidden=HID, nlayers=1)
    if kind == "flowstep":
        return perturb(FlowStep(ActNorm(D), InvertibleLinear(D), FlowPlusPlusCoupling(D, lstm, 2))), "lstm"
    if kind == "flow":
        return perturb(Flow(D, num_steps=2, coupling="affine", net="gru", hidden=HID, cond_dim=cond_dim), scale=0.2), "gru"
    blocks = [BatchNormFlow(D), AffineCoupling(D, ff), InvertibleLinear(D, lu=False), FlowPlusPlusCoupling(D, lstm, 2), IdentityNorm()]
    return perturb(CompositeTransform(blocks), scale=0.2), "lstm"


@pytest.mark.parametrize("with_state", [False, True], ids=["no-state", "state"])
@pytest.mark.parametrize("with_cond", [False, True], ids=["no-cond", "cond"])
@pytest.mark.parametrize("kind", [*NORM_BLOCKS, *COUPLING_BLOCKS, *COMPOUND_BLOCKS])
def test_every_transform_inverts_with_opposite_logdet(kind, with_cond, with_state):
    """The Transform contract: forward and inverse both return (outputs, logdet (B,)); inverse(forward(x)) == x and
    the inverse's logdet is minus the forward's; a state object continues a sequence identically in both directions."""
    D, B = 4, 2
    block, net = make_transform(kind, D, COND_DIM if with_cond else 0)
    assert isinstance(block, Transform)
    recurrent = net in ("lstm", "gru")
    fwd_state, inv_state = (TransformState(), TransformState()) if with_state else (None, None)
    chunks = [torch.randn(B, T, D, dtype=torch.float64) for T in (3, 2)]
    with torch.no_grad():
        for x in chunks:  # the second chunk continues the first when a state is carried
            cond = make_cond(net, B, x.shape[1]) if with_cond else None
            z, logdet = block(x, cond, fwd_state)
            x_rec, logdet_inv = block.inverse(z, cond, inv_state)
            assert z.shape == x.shape and logdet.shape == logdet_inv.shape == (B,)
            assert kind == "identity" or not torch.allclose(z, x, atol=1e-3), "block is still the identity; perturbation failed"
            torch.testing.assert_close(x_rec, x, atol=1e-6, rtol=0)
            torch.testing.assert_close(logdet_inv, -logdet, atol=1e-6, rtol=0)
        if with_state:
            assert len(fwd_state) == len(inv_state) == sum(isinstance(m, RecurrentCouplingNet) for m in block.modules())  # one entry per recurrent net
            if recurrent:  # the carried state mattered: the last chunk alone transforms differently
                assert (block(chunks[-1], cond)[0] - z).abs().max() > 1e-6
                for key, hidden in fwd_state.items():  # both directions end in the same state
                    for a, b in zip(as_tuple(hidden), as_tuple(inv_state[key])):
                        torch.testing.assert_close(a, b, atol=1e-8, rtol=0)


def test_composite_logdet_matches_autograd_jacobian():
    """D=4, one frame: a composite of every kind of block; both log-dets equal log|det| of autograd's Jacobians."""
    block, _ = make_transform("composite", 4, COND_DIM)
    composite = CompositeTransform([perturb(ActNorm(4)), block, perturb(InvertibleLinear(4))])
    x, cond = torch.randn(1, 1, 4, dtype=torch.float64), torch.randn(1, 1, COND_DIM, dtype=torch.float64)
    z, logdet = composite(x, cond)
    J = torch.autograd.functional.jacobian(lambda t: composite(t, cond)[0], x).reshape(4, 4)
    torch.testing.assert_close(logdet[0], torch.linalg.slogdet(J)[1], atol=1e-8, rtol=0)
    assert logdet.abs().max() > 0.1  # not trivially zero
    _, logdet_inv = composite.inverse(z, cond)
    J_inv = torch.autograd.functional.jacobian(lambda t: composite.inverse(t, cond)[0], z).reshape(4, 4)
    torch.testing.assert_close(logdet_inv[0], torch.linalg.slogdet(J_inv)[1], atol=1e-8, rtol=0)
    torch.testing.assert_close(J_inv @ J, torch.eye(4, dtype=torch.float64), atol=1e-8, rtol=0)


@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
def test_flowpp_inverse_logdet_when_newton_stops_early(grad):
    """With too few iterations the solution is inexact, yet the inverse's log-det is minus the forward's at the x returned."""
    factory = functools.partial(make_coupling_net, "ff", cond_dim=0, hidden=HID, nlayers=1)
    layer = perturb(FlowPlusPlusCoupling(4, factory, num_mixture_components=3), scale=0.5)
    layer.inverse_max_iters = 1
    z = 3 * torch.randn(2, 3, 4, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        x, logdet_inv = layer.inverse(z)
        z_back, logdet = layer(x)
    assert (z_back - z).abs().max() > 1e-6, "converged in one iteration; the early stop is not exercised"
    torch.testing.assert_close(logdet_inv, -logdet, atol=1e-10, rtol=0)


def test_composite_keeps_names_and_refuses_non_transforms():
    step = FlowStep(ActNorm(3), InvertibleLinear(3), IdentityNorm())
    assert step.norm is step[0] and len(step) == 3 and [type(t).__name__ for t in step] == ["ActNorm", "InvertibleLinear", "IdentityNorm"]
    assert "norm.bias" in step.state_dict() and "mixing.log_s" in step.state_dict()  # checkpoint names of the old FlowStep
    with pytest.raises(TypeError, match="not a Transform"):
        CompositeTransform([ActNorm(3), torch.nn.Linear(3, 3)])
    with pytest.raises(NotImplementedError):
        Transform()(torch.zeros(1, 1, 3))


def test_flowpp_extreme_values_and_inverse_gradient():
    """Large |x| stays finite (log-space logit), and the inverse's gradient (Newton iterations + one Newton step with the graph) is right."""
    factory = functools.partial(make_coupling_net, "ff", cond_dim=0, hidden=HID, nlayers=1)
    layer = perturb(FlowPlusPlusCoupling(2, factory, num_mixture_components=2))
    x = torch.tensor([[[0.1, 40.0], [0.2, -40.0], [0.3, 1e-3]]], dtype=torch.float64)
    z, logdet = layer(x)
    assert torch.isfinite(z).all() and torch.isfinite(logdet).all()
    torch.testing.assert_close(layer.inverse(z)[0], x, atol=1e-4, rtol=0)
    zz = torch.randn(1, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer.inverse(t), (zz,), eps=1e-6, atol=1e-5)  # the sample and its log-det


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-6)], ids=["float32", "float64"])
@pytest.mark.parametrize("net,opts", [("transformer", dict(nlayers=1, nhead=2)), ("lstm", {})], ids=["transformer", "lstm"])
def test_flowpp_inverse_round_trip_at_realistic_size(net, opts, dtype, tol):
    """Paper-like widths (67 features, 5 components): the safeguarded Newton inverse converges within 8 iterations
    (bisection would need ~30 for 1e-6 from the component-quantile bracket)."""
    flow = Flow(67, num_steps=3, coupling="flowpp", net=net, hidden=32, cond_dim=16, num_mixture_components=5, **opts)
    for m in flow.modules():
        if isinstance(m, FlowPlusPlusCoupling):
            m.inverse_max_iters = 8
    flow = perturb(flow, scale=0.05).to(dtype)
    x, cond = torch.randn(16, 20, 67, dtype=dtype), torch.randn(16, 20, 16, dtype=dtype)
    with torch.no_grad():
        z, _ = flow(x, cond)
        assert (z - x).abs().max() > 1.0, "flow is close to the identity; perturbation failed"
        torch.testing.assert_close(flow.inverse(z, cond)[0], x, atol=tol, rtol=0)


def test_invertible_linear_inverse_cache_follows_the_weights():
    """Without grad the inverse matrix is cached; an optimizer step, load_state_dict or a dtype change recomputes it."""
    layer = perturb(InvertibleLinear(4)).float()
    z = torch.randn(2, 3, 4)

    def reference(m, t):
        return t @ torch.linalg.inv(m._weight()[0].double()).T.to(t.dtype)

    def inverse(m, t):
        x, logdet = m.inverse(t)
        torch.testing.assert_close(logdet, -m(x)[1])  # the cached log-det follows the weights too
        return x

    with torch.no_grad():
        x0 = inverse(layer, z)
        cached = layer._inverse_cache[1]
        torch.testing.assert_close(inverse(layer, z), x0, rtol=0, atol=0)
        assert layer._inverse_cache[1] is cached  # reused
        torch.testing.assert_close(x0, reference(layer, z))
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    (layer(torch.randn(5, 3, 4))[0] * torch.randn(5, 3, 4)).sum().backward()
    opt.step()
    with torch.no_grad():
        x1 = inverse(layer, z)
        assert layer._inverse_cache[1] is not cached
        assert (x1 - x0).abs().max() > 1e-3
        torch.testing.assert_close(x1, reference(layer, z))
        torch.testing.assert_close(layer(x1)[0], z, atol=1e-5, rtol=0)
        fresh = perturb(InvertibleLinear(4)).float()
        layer.load_state_dict(fresh.state_dict())
        torch.testing.assert_close(inverse(layer, z), reference(fresh, z))
        z64 = z.double()
        assert inverse(layer, z64).dtype == torch.float64
        torch.testing.assert_close(inverse(layer, z64), reference(fresh, z64))
    # with grad enabled the inverse is differentiable (not the cached constant)
    zz = z.requires_grad_()
    x, logdet = layer.inverse(zz)
    (x.sum() + logdet.sum()).backward()
    assert layer.L.grad is not None and zz.grad is not None and layer.log_s.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kw",
    [
        dict(coupling="affine", net="transformer", norm="actnorm", lu=True, nlayers=1, nhead=2, pos_emb="relative"),
        dict(coupling="flowpp", net="conv", norm="batchnorm", lu=False, nblocks=1),
        dict(coupling="affine", net="lstm", norm="none", lu=True, dist="studentt", dist_param=4.0),
        dict(coupling="flowpp", net="gru", norm="actnorm", lu=True, num_mixture_components=2),
    ],
    ids=["transformer-actnorm", "conv-batchnorm", "lstm-none", "gru-flowpp"],
)
def test_whole_flow_invert_logdet_and_log_prob(kw):
    flow = perturb(Flow(3, num_steps=2, hidden=HID, cond_dim=COND_DIM, **kw), scale=0.2)
    x = torch.randn(2, 2, 3, dtype=torch.float64)
    cond = make_cond(kw["net"], 2, 2)
    check_block(flow, x, cond)
    z, logdet = flow(x, cond)
    torch.testing.assert_close(flow.log_prob(x, cond), flow.base.log_prob(z) + logdet)


@pytest.mark.parametrize("net", ["lstm", "gru"])
@pytest.mark.parametrize("coupling", ["affine", "flowpp"])
def test_recurrent_flow_step_by_step_equals_whole_sequence(net, coupling):
    flow = perturb(Flow(4, num_steps=2, coupling=coupling, net=net, hidden=HID, cond_dim=COND_DIM, num_mixture_components=2))
    B, T = 2, 5
    z = torch.randn(B, T, 4, dtype=torch.float64)
    cond = torch.randn(B, T, COND_DIM, dtype=torch.float64)
    with torch.no_grad():
        final_state = TransformState()
        x_full, ld_inv_full = flow.inverse(z, cond, final_state)
        assert len(final_state) == 2  # one entry per recurrent coupling net
        state, frames, ld_inv = TransformState(), [], 0
        for t in range(T):
            x_t, ld_t = flow.inverse(z[:, t : t + 1], cond[:, t : t + 1], state)
            frames.append(x_t)
            ld_inv = ld_inv + ld_t
        torch.testing.assert_close(torch.cat(frames, 1), x_full, atol=1e-8, rtol=0)
        torch.testing.assert_close(ld_inv, ld_inv_full, atol=1e-8, rtol=0)
        for key, hidden in final_state.items():  # the carried state ends where the whole sequence's does
            for h_steps, h_whole in zip(as_tuple(state[key]), as_tuple(hidden)):
                torch.testing.assert_close(h_steps, h_whole, atol=1e-8, rtol=0)
        # forward in chunks with carried state == forward of the whole sequence
        st = TransformState()
        z_a, ld_a = flow(x_full[:, :2], cond[:, :2], st)
        z_b, ld_b = flow(x_full[:, 2:], cond[:, 2:], st)
        z_full, ld_full = flow(x_full, cond)
        torch.testing.assert_close(torch.cat([z_a, z_b], 1), z_full)
        torch.testing.assert_close(ld_a + ld_b, ld_full)
        torch.testing.assert_close(z_full, z, atol=1e-4, rtol=0)
        torch.testing.assert_close(ld_inv_full, -ld_full, atol=1e-6, rtol=0)
        # without a state object nothing is carried: the second chunk starts afresh and differs
        assert (flow(x_full[:, 2:], cond[:, 2:])[0] - z_b).abs().max() > 1e-6
        # causal: changing frame 3 of z leaves the earlier frames of x unchanged
        z2 = z.clone()
        z2[:, 3] += 1.0
        x2, _ = flow.inverse(z2, cond)
        torch.testing.assert_close(x2[:, :3], x_full[:, :3], atol=1e-10, rtol=0)
        assert (x2[:, 3:] - x_full[:, 3:]).abs().max() > 1e-3
    with pytest.raises(MotionlabError, match="TransformState"):  # the old per-step list is refused, not misread
        flow(x_full, cond, [None, None])


def test_distributions_match_reference():
    z = torch.randn(3, 2, 4, dtype=torch.float64) * 2
    normal = make_base_distribution("normal")
    torch.testing.assert_close(normal.log_prob(z), torch.distributions.Normal(0.0, 1.0).log_prob(z).sum((1, 2)))
    for df in (1.0, 3.5, 30.0):
        st = make_base_distribution("studentt", df)
        ref = scipy.stats.t(df).logpdf(z.numpy()).reshape(3, -1).sum(1)
        np.testing.assert_allclose(st.log_prob(z).numpy(), ref, rtol=1e-10)
        torch.testing.assert_close(st.log_prob(z), torch.distributions.StudentT(torch.tensor(df, dtype=torch.float64)).log_prob(z).sum((1, 2)))
    for dist in (normal, make_base_distribution("studentt", 3.0)):
        assert torch.equal(dist.sample((2, 3, 4), temperature=0.0), torch.zeros(2, 3, 4))
        assert torch.equal(dist.sample((2, 3), 0.0, device=torch.device("cpu"), dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
        s = dist.sample((4000, 1, 1), temperature=0.5)
        assert s.dtype == torch.float32 and s.shape == (4000, 1, 1)
        assert 0.3 < s.abs().median() < 0.45  # median |z| of N(0, .5^2) ~ .34, of t_3 * .5 ~ .38
    for df in (3.0, 30.0):  # the on-device Student-t draw (normal / sqrt(chi2 / df)) has the right law
        s = make_base_distribution("studentt", df).sample((4000,), 1.0, device=torch.device("cpu"), dtype=torch.float64)
        assert s.dtype == torch.float64
        assert scipy.stats.kstest(s.numpy(), scipy.stats.t(df).cdf).pvalue > 1e-3


@pytest.mark.parametrize("dist", ["normal", "studentt"])
def test_temperature_zero_sampling_is_deterministic(dist):
    flow = perturb(Flow(3, num_steps=2, net="ff", hidden=HID, cond_dim=COND_DIM, dist=dist, dist_param=5.0, nlayers=1))
    cond = torch.randn(2, 4, COND_DIM, dtype=torch.float64)
    with torch.no_grad():
        a, b = flow.sample(cond, num_frames=4, temperature=0.0), flow.sample(cond, num_frames=4, temperature=0.0)
        c = flow.sample(cond, num_frames=4, temperature=1.0)
    assert a.shape == (2, 4, 3) and torch.equal(a, b) and not torch.equal(a, c)


def test_actnorm_data_init_and_checkpoint():
    x = torch.randn(64, 5, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([3.0, -2.0, 0.5])
    an = ActNorm(3).train()
    z, _ = an(x)
    torch.testing.assert_close(z.mean((0, 1)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std((0, 1), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    restored = ActNorm(3).train()
    restored.load_state_dict(an.state_dict())
    torch.testing.assert_close(restored(x * 2)[0], an(x * 2)[0])  # the flag is restored: no re-initialisation on new data
    assert bool(restored.initialized)


def test_batchnorm_uses_batch_stats_in_training_and_running_stats_in_eval():
    bn = BatchNormFlow(2, momentum=1.0)
    x = torch.randn(32, 4, 2) * 3 + 1
    z, _ = bn.train()(x)
    torch.testing.assert_close(z.mean((0, 1)), torch.zeros(2), atol=1e-5, rtol=0)
    z_eval, _ = bn.eval()(x)  # momentum 1: running stats == this batch's
    torch.testing.assert_close(z_eval, z, atol=1e-4, rtol=0)
    torch.testing.assert_close(bn.inverse(z_eval)[0], x, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "kwargs,option",
    [
        (dict(D=1), "'D'"),
        (dict(num_steps=0), "num_steps"),
        (dict(coupling="flowpp", num_mixture_components=0), "num_mixture_components"),
        (dict(coupling="glow"), "'coupling'"),
        (dict(net="mlp"), "'net'"),
        (dict(norm="layernorm"), "'norm'"),
        (dict(dist="laplace"), "'dist'"),
        (dict(dist="studentt", dist_param=-1.0), "dist_param"),
        (dict(net="transformer", pos_emb="rotary"), "pos_emb"),
        (dict(net="transformer", hidden=6, nhead=4), "nhead"),
        (dict(net="conv", kernel_size=4), "kernel_size"),
        (dict(net="lstm", nhead=2), "nhead"),
    ],
)
def test_invalid_options_raise(kwargs, option):
    kw = dict(D=3, num_steps=1, hidden=HID, cond_dim=0)
    kw.update(kwargs)
    with pytest.raises(MotionlabError, match=option) as e:
        Flow(**kw)
    if option in ("'net'", "'coupling'", "'norm'", "'dist'"):
        assert "must be one of" in str(e.value)
    if option == "'net'":
        assert all(name in str(e.value) for name in COUPLING_NETS)


def test_tiny_conditional_flow_learns():
    """x = 2 * cond + small noise: the NLL must fall well below its initial value."""
    flow = Flow(2, num_steps=3, coupling="affine", net="ff", hidden=32, cond_dim=2, nlayers=2)
    opt = torch.optim.Adam(flow.parameters(), lr=5e-3)

    def batch(n=128):
        c = torch.randn(n, 1, 2)
        return 2 * c + 0.1 * torch.randn(n, 1, 2), c

    torch.manual_seed(1)
    x_val, c_val = batch(512)
    flow.train()
    flow.log_prob(*batch())  # ActNorm data-dependent initialisation
    with torch.no_grad():
        nll0 = -flow.eval().log_prob(x_val, c_val).mean().item()
    flow.train()
    for _ in range(150):
        x, c = batch()
        loss = -flow.log_prob(x, c).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        nll = -flow.eval().log_prob(x_val, c_val).mean().item()
    assert nll < nll0 - 3.0, (nll0, nll)


def test_actnorm_init_on_a_constant_channel_stays_finite():
    """A channel constant in the first (tiny) batch used to get an unbounded scale; the next batch overflowed."""
    from motionlab.models.modules.flows import ActNorm

    norm = ActNorm(3)
    first = torch.tensor([[[0.0, 1.0, 5.0]], [[1.0, 1.0, 6.0]]])  # channel 1 constant
    norm(first)
    z, logdet = norm(torch.tensor([[[0.5, 3.0, 5.5]]]))
    assert torch.isfinite(z).all() and torch.isfinite(logdet).all()
    assert float(norm.logs[1]) == pytest.approx(-math.log(1e-2 + 1e-6))
