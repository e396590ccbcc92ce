"""Autoregressive rollout over a whole sequence, shared by every autoregressive model.

The model sees the same windows as in training: modality ``m`` at step start ``s`` covers
frames ``[s + o_m, s + o_m + L_m)``. Input modalities that are also outputs (the motion) are
read from the buffer the rollout writes its predictions into; the others (audio, text) are
given, padded at the end by repeating their last frame so the motion can be generated for the
whole sequence. The first ``start + output_offset`` motion frames are the seed.
All buffers are allocated once on the model's device; no per-step host copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from motionlab.utils.errors import MotionlabError


@dataclass(frozen=True)
class WindowSpec:
    input_modalities: tuple
    output_modalities: tuple
    input_lengths: tuple
    output_lengths: tuple
    input_offsets: tuple
    output_offsets: tuple

    @classmethod
    def from_options(cls, opt) -> "WindowSpec":
        ins = tuple(getattr(opt, "input_modalities", ()) or ())
        outs = tuple(getattr(opt, "output_modalities", ()) or ())
        io = tuple(getattr(opt, "input_time_offsets", ()) or ()) or (0,) * len(ins)
        oo = tuple(getattr(opt, "output_time_offsets", ()) or ()) or (0,) * len(outs)
        return cls(ins, outs, tuple(getattr(opt, "input_lengths", ()) or ()), tuple(getattr(opt, "output_lengths", ()) or ()), io, oo)

    @property
    def first_start(self) -> int:
        return max(0, -min(self.input_offsets + self.output_offsets))

    def seed_length(self, name: str) -> int:
        """Frames of an output modality that must be given before the first prediction."""
        return self.first_start + self.output_offsets[self.output_modalities.index(name)]


def given_modalities(spec: WindowSpec) -> list[str]:
    """Input modalities that are not fed back (audio, text): generation needs them for the whole sequence."""
    return [n for n in spec.input_modalities if n not in spec.output_modalities]


def rollout(model, inputs: dict, seed: dict, *, temperature=1.0, num_samples=1, frames_per_step=1, teacher_forcing=False, progress=False, **cond) -> dict:
    spec: WindowSpec = getattr(model, "generation_spec", model.spec)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    fed_back = [n for n in spec.input_modalities if n in spec.output_modalities]
    given = given_modalities(spec)
    for n in given:
        if n not in inputs:
            raise MotionlabError(f"generate: input modality '{n}' missing (got {sorted(inputs)})")
    lengths = [inputs[n].shape[0] for n in given]
    if not lengths:
        raise MotionlabError("generate: at least one input modality must be given (not fed back) to set the sequence length")
    T = min(lengths)
    k = max(1, min(frames_per_step, min(spec.output_lengths)))
    if getattr(model, "max_frames_per_step", None):  # a model-declared limit (e.g. MoGlow: one frame per step)
        k = min(k, int(model.max_frames_per_step))
    start = spec.first_start
    for n, o, L in zip(spec.input_modalities, spec.input_offsets, spec.input_lengths):
        if n in fed_back:
            oo = spec.output_offsets[spec.output_modalities.index(n)]
            if o + L > oo:
                raise MotionlabError(f"generate: fed-back modality '{n}' window [{o}, {o + L}) overlaps its prediction starting at {oo}")
    B = num_samples
    first_out = min(spec.seed_length(n) for n in spec.output_modalities)
    if T <= first_out:
        raise MotionlabError(
            f"generate: the inputs last {T} frames but the model needs {first_out} frames of context (and seed) before its first "
            f"prediction; give a longer input (e.g. longer audio)"
        )
    # Buffers: (B, T + pad, D), padded so every window of the last step exists.
    pad = max(max(o + L for o, L in zip(spec.input_offsets, spec.input_lengths)), max(o + L for o, L in zip(spec.output_offsets, spec.output_lengths)))
    total = T + pad
    buf = {}
    for n in given:
        x = torch.as_tensor(inputs[n][:T], dtype=dtype, device=device)
        x = torch.cat([x, x[-1:].expand(total - T, -1)], 0)
        buf[n] = x.unsqueeze(0).expand(B, -1, -1)
    out = {}
    for n, d in zip(spec.output_modalities, model.output_dims):
        out[n] = torch.zeros(B, total, d, dtype=dtype, device=device)
        need = spec.seed_length(n)
        src = seed.get(n, inputs.get(n))
        if need:
            if src is None or src.shape[0] < need:
                raise MotionlabError(f"generate: output modality '{n}' needs a seed of {need} frames (from the sequence or --seed_file), got {0 if src is None else src.shape[0]}")
            out[n][:, :need] = torch.as_tensor(src[:need], dtype=dtype, device=device)
    for n in fed_back:
        if teacher_forcing:
            if n not in inputs:
                raise MotionlabError(f"generate: teacher forcing needs the ground truth of '{n}'")
            x = torch.as_tensor(inputs[n][:T], dtype=dtype, device=device)
            buf[n] = torch.cat([x, x[-1:].expand(total - T, -1)], 0).unsqueeze(0).expand(B, -1, -1)
        else:
            buf[n] = out[n]
    state = model.init_generation_state(B, **cond)
    last_start = T - (first_out - start) - 1  # the step that writes frame T-1
    steps = range(start, last_start + 1, k)

    for s in tqdm(steps, desc="generating", unit="step", disable=not progress, leave=False):
        windows = [buf[n][:, s + o : s + o + L] for n, o, L in zip(spec.input_modalities, spec.input_offsets, spec.input_lengths)]
        preds, state = model.generation_step(windows, state, temperature=temperature, **cond)
        for n, o, p in zip(spec.output_modalities, spec.output_offsets, preds):
            out[n][:, s + o : s + o + k] = p[:, :k]
    result = {n: v[:, :T] for n, v in out.items()}
    return {n: (v[0] if num_samples == 1 else v) for n, v in result.items()}
