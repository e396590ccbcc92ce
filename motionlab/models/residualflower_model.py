"""ResidualflowerModel: a deterministic mean model plus a flow on the residual, both registered models found by name.

``--mean_model`` (default ``transformer``) predicts the mean of the next frames (MSE); ``--residual_model``
(default ``transflower``) models y - mean(x) (NLL, the mean detached so each part keeps its own
objective). Generation returns mean + a sampled residual. The sub-models' own options appear with
the prefixes ``--mean_`` / ``--residual_`` (``--mean_dhid``, ``--residual_num_glow_coupling_blocks``,
...): the composite calls each sub-model's ``modify_commandline_options`` on a prefixing adapter of
its option group. Which sub-models those are comes from the first parsing stage
(``--mean_model`` / ``--residual_model`` on the command line or in the YAML), so choosing another
sub-model brings its options. The window options (modalities, lengths, offsets) are shared.
"""

from __future__ import annotations

import argparse

from torch import nn

from motionlab.models import find_model_using_name
from motionlab.models.base_model import BaseModel
from motionlab.training.options import call_modify_commandline_options
from motionlab.utils.errors import MotionlabError

SUB_MODELS = (("mean", "transformer"), ("residual", "transflower"))


class PrefixedOptions:
    """Adapter of an argparse parser/group: ``add_argument('--x', ...)`` adds ``--<prefix>x`` (dest ``<prefix>x``).

    Records the unprefixed dests it added (``dests``) so the composite can map its options back.
    """

    def __init__(self, parser, prefix: str):
        self._parser, self.prefix, self.dests = parser, prefix, []

    def add_argument(self, *names, **kwargs):
        flags = [n for n in names if n.startswith("-")]
        if not flags or len(flags) != len(names):
            raise MotionlabError(f"sub-model options must be --flags, got {names}")
        long = [n for n in flags if n.startswith("--")]
        dest = kwargs.pop("dest", None) or (long[0] if long else flags[0]).lstrip("-").replace("-", "_")
        renamed = [f"--{self.prefix}{n.lstrip('-')}" for n in long]  # single-dash short flags are dropped (they would clash)
        if not renamed:
            renamed = [f"--{self.prefix}{dest}"]
        action = self._parser.add_argument(*renamed, dest=self.prefix + dest, **kwargs)
        self.dests.append(dest)
        return action

    def add_argument_group(self, *args, **kwargs):
        return self

    def set_defaults(self, **kwargs):
        self._parser.set_defaults(**{self.prefix + k: v for k, v in kwargs.items()})


class PrefixedKnown:
    """The first-stage values seen through a prefix (for sub-models whose options depend on others)."""

    def __init__(self, known, prefix: str):
        self.known, self.prefix = known, prefix

    def get(self, key, default=None):
        return default if self.known is None else self.known.get(self.prefix + key, default)


class _OptionValues:
    """``known`` view of an already-parsed options dict."""

    def __init__(self, values: dict):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


def sub_model_name(known, role: str, default: str) -> str:
    value = known.get(f"{role}_model", default) if known is not None else default
    return str(value if value is not None else default)


def add_sub_model_options(parser, role: str, name: str, known=None) -> list[str]:
    """Add model ``name``'s options to ``parser`` with the prefix ``<role>_``; returns their unprefixed dests."""
    adapter = PrefixedOptions(parser, f"{role}_")
    call_modify_commandline_options(find_model_using_name(name), adapter, PrefixedKnown(known, f"{role}_"))
    return adapter.dests


class ResidualflowerModel(BaseModel):
    """ResidualFlower: a deterministic mean model (MSE) plus a flow model of the residual y - mean(x) (NLL)."""

    @staticmethod
    def modify_commandline_options(parser, known=None):
        for role, default in SUB_MODELS:
            parser.add_argument(f"--{role}_model", default=default, help=f"registered model used as the {role} model; its options take the prefix {role}_")
        for role, default in SUB_MODELS:
            add_sub_model_options(parser, role, sub_model_name(known, role, default), known)
        return parser

    def __init__(self, opt, input_dims, output_dims, num_speakers=0):
        super().__init__(opt, input_dims, output_dims, num_speakers)
        values = vars(self.opt)
        subs = {}
        for role, default in SUB_MODELS:
            name = sub_model_name(_OptionValues(values), role, default)
            if name == "residualflower":
                raise MotionlabError(f"--{role}_model cannot be residualflower itself")
            cls = find_model_using_name(name)
            subs[role] = cls(self._sub_options(role, name, values), input_dims, output_dims, num_speakers)
        self.mean_model, self.residual_model = subs["mean"], subs["residual"]
        specs = {m.generation_spec for m in subs.values()}
        if len(specs) != 1:
            raise MotionlabError(f"--mean_model {self.opt.mean_model} and --residual_model {self.opt.residual_model} read different generation windows; choose sub-models that step through the sequence alike")
        caps = [m.max_frames_per_step for m in subs.values() if m.max_frames_per_step]
        self.max_frames_per_step = min(caps) if caps else None

    @staticmethod
    def _sub_options(role: str, name: str, values: dict) -> dict:
        """The composite's options with ``<role>_x`` renamed ``x`` for every option of the sub-model (defaults where absent)."""
        scratch = argparse.ArgumentParser(add_help=False)
        dests = add_sub_model_options(scratch, role, name, _OptionValues(values))
        defaults = vars(scratch.parse_args([]))
        sub = dict(values)
        for d in dests:
            sub[d] = values.get(f"{role}_{d}", defaults[f"{role}_{d}"])
        sub["model"] = name
        return sub

    @property
    def generation_spec(self):
        return self.mean_model.generation_spec

    def mean(self, inputs):
        out = self.mean_model(inputs)
        if not isinstance(out, (list, tuple)) or len(out) != len(self.output_dims):
            raise MotionlabError(f"--mean_model {self.opt.mean_model}: its forward(inputs) must return one (B, L, D) tensor per output modality")
        return list(out)

    def compute_loss(self, batch):
        inputs, outputs = batch["inputs"], batch["outputs"]
        means = self.mean(inputs)
        mse = {f"mse_{n}": nn.functional.mse_loss(m, y) for n, m, y in zip(self.output_modalities, means, outputs)}
        residuals = [y - m.detach() for y, m in zip(outputs, means)]
        nll, terms = self.residual_model.compute_loss({"inputs": inputs, "outputs": residuals})
        return sum(mse.values()) + nll, {**mse, **terms}

    def init_generation_state(self, batch_size: int, **cond):
        return (self.mean_model.init_generation_state(batch_size, **cond), self.residual_model.init_generation_state(batch_size, **cond))

    def generation_step(self, window_inputs, state, *, temperature=1.0, **cond):
        mean_state, residual_state = state if state is not None else (None, None)
        means, mean_state = self.mean_model.generation_step(window_inputs, mean_state, temperature=temperature, **cond)
        residuals, residual_state = self.residual_model.generation_step(window_inputs, residual_state, temperature=temperature, **cond)
        return [m + r for m, r in zip(means, residuals)], (mean_state, residual_state)
