"""bf16 autocast (issue 14): generation and the flow NLL in bfloat16 stay within stated tolerances of fp32.

Tolerances (scaled units; the demo features have unit variance): the first generated frames of a
flow differ from fp32 by < 0.1 at the same noise; the NLL per dimension by < 2 %; a deterministic
transformer's frames by < 0.05."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generation import build  # noqa: E402  benchmarks/generation.py: demo-size models with non-trivial couplings

from motionlab.models.base_model import autocast  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402


def inputs_for(model, opt, frames=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = model.generation_spec.seed_length(opt.output_modalities[0]) + frames
    return {opt.input_modalities[0]: torch.randn(T, 16, generator=g), opt.output_modalities[0]: torch.randn(T, 12, generator=g)}


@pytest.mark.parametrize("name, tolerance", [("transflower", 0.1), ("transformer", 0.05), ("moglow", 0.1)])
def test_bf16_generation_stays_close_to_fp32(name, tolerance):
    torch.manual_seed(0)
    model, opt, _, _ = build(name)
    x = inputs_for(model, opt)
    out = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(1)  # the same sampling noise
        out[precision] = next(iter(model.generate(x, temperature=1.0, precision=precision).values()))
    assert out["bf16"].dtype == torch.float32
    first = model.generation_spec.seed_length(opt.output_modalities[0])
    diff = (out["bf16"][first : first + 4] - out["fp32"][first : first + 4]).abs().max()
    assert 0 < float(diff) < tolerance  # bf16 really ran, and stayed close


def test_bf16_flow_nll_within_two_percent():
    torch.manual_seed(0)
    model, opt, _, _ = build("transflower")
    model.train()
    g = torch.Generator().manual_seed(3)
    spec = model.spec
    batch = {"inputs": [torch.randn(8, n, d, generator=g) for n, d in zip(spec.input_lengths, (16, 12))],
             "outputs": [torch.randn(8, n, 12, generator=g) for n in spec.output_lengths]}
    with torch.no_grad():
        fp32, _ = model.compute_loss(batch)
        with autocast("bf16", "cpu"):
            bf16, _ = model.compute_loss(batch)
    assert abs(float(bf16) - float(fp32)) < 0.02 * abs(float(fp32)) and float(bf16) != float(fp32)


def test_unknown_precision_is_refused():
    with pytest.raises(MotionlabError, match="--precision: expected one of fp32, bf16"):
        autocast("fp8", "cpu")
