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

from torch import nn

from motionlab.models import find_model_using_name
from motionlab.models.base_model import BaseModel
from motionlab.options import OptionValues, add_prefixed_options, prefixed_sub_options
from motionlab.utils.errors import MotionlabError

SUB_MODELS = (("mean", "transformer"), ("residual", "transflower"))


def sub_model_name(known, role: str, default: str) -> str:
    value = known.get(f"{role}_model", default) if known is not None else default
    return str(value if value is not None else default)


class ResidualflowerModel(BaseModel):
    """ResidualFlower: a deterministic mean model (MSE) plus a flow model of the residual y - mean(x) (NLL)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        for role, default in SUB_MODELS:
            parser.add_argument(f"--{role}_model", default=default, help=f"registered model used as the {role} model; its options take the prefix {role}_")
        for role, default in SUB_MODELS:
            add_prefixed_options(parser, find_model_using_name(sub_model_name(known, role, default)), f"{role}_", known)
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        values = vars(self.opt)
        subs = {}
        for role, default in SUB_MODELS:
            name = sub_model_name(OptionValues(values), role, default)
            if name == "residualflower":
                raise MotionlabError(f"--{role}_model cannot be residualflower itself")
            cls = find_model_using_name(name)
            subs[role] = cls({**prefixed_sub_options(cls, f"{role}_", values), "model": name}, spec)
        self.mean_model, self.residual_model = subs["mean"], subs["residual"]
        specs = {m.generation_spec for m in subs.values()}
        if len(specs) != 1:
            raise MotionlabError(f"--mean_model {self.opt.mean_model} and --residual_model {self.opt.residual_model} read different generation windows; choose sub-models that step through the sequence alike")
        caps = [m.max_frames_per_step for m in subs.values() if m.max_frames_per_step]
        self.max_frames_per_step = min(caps) if caps else None

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
