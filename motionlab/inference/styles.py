"""Styles at generation: which speaker/style a sequence is generated in, style-transfer plans, and how
much each generator of a mixture model is used per style.

A model knows the styles of the data it trained on (``model.data_spec.speaker_names``, saved in the
checkpoint); the data folder it generates from labels its sequences in ``speakers.json``. The model's
own index of a label is what reaches ``generate(..., speaker=)`` — never the data's, which may list
other speakers. Transferred outputs are named ``<seq>.<source>_to_<target>`` (an ASCII arrow, so the
names stay plain file names everywhere).
"""

from __future__ import annotations

import numpy as np
import torch

from motionlab.datafolder import DataFolder, check_seq_id
from motionlab.models.modules.stitch import window_starts
from motionlab.utils.errors import MotionlabError

ARROW = "_to_"


def model_styles(model) -> list[str]:
    return [str(s) for s in model.data_spec.speaker_names]


def needs_style(model) -> bool:
    """True for style-conditioned models (StAGE, Mix-StAGE): they cannot generate without a style."""
    uses = getattr(model, "uses_speakers", None)
    return bool(uses()) if callable(uses) else False


def transfer_stem(seq: str, source: str | None, target: str) -> str:
    """``<seq>.<source>_to_<target>`` (``<seq>.to_<target>`` without a known source), checked to be a file name."""
    stem = f"{seq}.{source}{ARROW}{target}" if source is not None else f"{seq}.to_{target}"
    return check_seq_id(stem, "style-transfer output name")


def _known(model) -> str:
    return ", ".join(model_styles(model))


def style_index(model, label: str, folder: DataFolder | None = None) -> int:
    """The model's index of style ``label``; unknown labels are refused with the known ones listed."""
    names = model_styles(model)
    if not names:
        raise MotionlabError(f"--style {label}: model '{model.opt.model}' was trained without speaker/style labels (its data had no speakers.json), so it has no styles to choose from")
    if str(label) in names:
        return names.index(str(label))
    if folder is not None and str(label) in set(folder.speakers().values()):
        raise MotionlabError(
            f"--style {label}: '{label}' is a speaker of {folder.path / 'speakers.json'}, but model '{model.opt.model}' was trained on another speaker set "
            f"and knows only: {_known(model)}"
        )
    raise MotionlabError(f"--style {label}: unknown style (the model knows: {_known(model)})")


def own_style(model, folder: DataFolder, seq: str) -> str | None:
    """The sequence's label in speakers.json when the model has styles (None when it has none or the data has none)."""
    if not model_styles(model):
        return None
    labels = folder.speakers()
    if not labels:
        return None
    if seq not in labels:
        raise MotionlabError(f"{folder.path / 'speakers.json'}: no speaker label for sequence '{seq}'")
    return labels[seq]


def conditions_for(model, folder: DataFolder, seq: str | None, style: str | None = None) -> tuple[dict, str | None, str | None]:
    """(``generate`` keywords, source label, target label) for one sequence (``seq`` None: new audio).

    The target is ``style`` when given, else the sequence's own speaker. A style model without any
    style to use (new audio or data without speakers.json, no ``--style``) is refused, as is a
    sequence whose own speaker the model never saw.
    """
    names = model_styles(model)
    source = own_style(model, folder, seq) if seq is not None else None
    if style is not None:
        return {"speaker": style_index(model, style, folder)}, source, str(style)
    if not names:
        return {}, None, None
    if source is None:
        if not needs_style(model):
            return {}, None, None
        where = "new audio has no speaker" if seq is None else f"{folder.path} has no speakers.json to take sequence '{seq}''s own style from"
        raise MotionlabError(f"model '{model.opt.model}' generates in a given style, but {where}: pass --style <label> (known: {_known(model)})")
    if source not in names:
        raise MotionlabError(
            f"sequence '{seq}' is by '{source}' ({folder.path / 'speakers.json'}), a speaker model '{model.opt.model}' was not trained on "
            f"(it knows: {_known(model)}); pass --style <label> to generate it in a known style"
        )
    return {"speaker": names.index(source)}, source, source


def transfer_plan(model, folder: DataFolder, split: str, per_style: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    """([(seq, source, target)], notes): the first ``per_style`` sequences of ``split`` in each of the
    model's styles (0: all), each in every OTHER style of the model."""
    names = model_styles(model)
    if len(names) < 2:
        raise MotionlabError(f"style transfer needs a model with at least two styles; model '{model.opt.model}' has {len(names)} ({_known(model) or 'no speakers.json in its data'})")
    labels = folder.speakers()
    if not labels:
        raise MotionlabError(f"style transfer: {folder.path / 'speakers.json'} is missing, so the sequences' own styles are unknown")
    seqs = folder.split(split)
    plan, notes = [], []
    for source in names:
        own = [q for q in seqs if labels.get(q) == source]
        if not own:
            notes.append(f"style '{source}': no {split} sequence")
            continue
        chosen = own[:per_style] if per_style else own
        if per_style and len(own) < per_style:
            notes.append(f"style '{source}': only {len(own)} {split} sequence{'s' if len(own) != 1 else ''} (asked for {per_style})")
        plan += [(q, source, target) for q in chosen for target in names if target != source]
    others = sorted({labels[q] for q in seqs if q in labels} - set(names))
    if others:
        notes.append(f"{split} sequences by speakers the model does not know were skipped: {', '.join(others)}")
    if not plan:
        raise MotionlabError(f"style transfer: no {split} sequence is by a speaker the model knows ({_known(model)})")
    return plan, notes


# ---------------------------------------------------------------------------------------------- mixture usage

@torch.inference_mode()
def generator_weights(model, inputs: dict, speaker: int) -> np.ndarray:
    """(frames, K) softmax weights of a mixture model's generators over a whole sequence in style ``speaker``.

    The sequence is cut into the model's windows without overlap (the last aligned with the end,
    its frames already covered dropped), so every output frame counts once.
    """
    spec = getattr(model, "generation_spec", None) or model.spec
    param = next(model.parameters())
    T = min(int(inputs[n].shape[0]) for n in spec.input_modalities)
    L, o = spec.output_lengths[0], spec.output_offsets[0]
    span = max(off + n for off, n in zip(spec.input_offsets + spec.output_offsets, spec.input_lengths + spec.output_lengths))
    if T < spec.first_start + span:
        return np.zeros((0, 0))
    starts = window_starts(T, spec.first_start, span, L)
    windows = [
        torch.stack([torch.as_tensor(inputs[n][s + off : s + off + ln]) for s in starts]).to(param.device, param.dtype)
        for n, off, ln in zip(spec.input_modalities, spec.input_offsets, spec.input_lengths)
    ]
    was_training = model.training
    model.eval()
    try:
        w = model.mixture_weights(windows, torch.full((len(starts),), int(speaker), dtype=torch.long, device=param.device)).float().cpu().numpy()
    finally:
        model.train(was_training)
    rows, covered = [], 0
    for i, s in enumerate(starts):
        a = s + o
        keep = max(covered - a, 0)
        rows.append(w[i, keep:])
        covered = a + L
    return np.concatenate(rows)


class GeneratorUsage:
    """Per target style: mean softmax weight of each generator and how often each is the argmax, over frames."""

    def __init__(self, model):
        self.model_name = str(model.opt.model)
        self.styles = model_styles(model)
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.frames: dict[str, int] = {}
        self.sequences: list[dict] = []

    def add(self, target: str, weights: np.ndarray, seq: str, source: str | None) -> None:
        if not len(weights):
            return
        k = weights.shape[1]
        self.sums[target] = self.sums.get(target, np.zeros(k)) + weights.sum(0)
        self.counts[target] = self.counts.get(target, np.zeros(k, dtype=np.int64)) + np.bincount(weights.argmax(1), minlength=k)
        self.frames[target] = self.frames.get(target, 0) + len(weights)
        self.sequences.append({"sequence": seq, "source": source, "target": target, "frames": int(len(weights))})

    def to_json(self) -> dict:
        return {
            "model": self.model_name,
            "what": "per target style: mean softmax weight of each generator over the generated frames, and how many frames each generator had the largest weight",
            "styles": {
                s: {"frames": self.frames[s], "mean_weight": (self.sums[s] / self.frames[s]).round(6).tolist(), "argmax_counts": self.counts[s].tolist()}
                for s in self.styles if s in self.frames
            },
            "sequences": self.sequences,
        }
