"""``DataSpec``: what a model needs to know about its data, provided by the dataset.

A model is built from the options plus a ``DataSpec`` (never from numbers typed by hand), and the
spec is saved in every checkpoint so an experiment rebuilds its model exactly without the data.
Models that keep per-window or per-speaker parameters (a template code per training window, a
style embedding per speaker) size them from ``num_windows`` / ``num_speakers``; every dataset item
carries a ``window_id`` in ``[0, num_windows)`` that does not change with shuffling, workers, DDP
or ``--resume`` (it is the window's position in the dataset's one deterministic enumeration).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from motionlab.utils.errors import MotionlabError


@dataclass(frozen=True)
class DataSpec:
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    input_dims: tuple[int, ...]
    output_dims: tuple[int, ...]
    fps: float | None = None
    speaker_names: tuple[str, ...] = ()
    num_windows: int = 0
    sequence_ids: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        for name in ("input_modalities", "output_modalities", "input_dims", "output_dims", "speaker_names", "sequence_ids"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.input_dims) != len(self.input_modalities) or len(self.output_dims) != len(self.output_modalities):
            raise MotionlabError(
                f"data spec: {len(self.input_modalities)} input modalities with {len(self.input_dims)} dims, "
                f"{len(self.output_modalities)} output modalities with {len(self.output_dims)} dims"
            )

    @property
    def num_speakers(self) -> int:
        return len(self.speaker_names)

    def dim(self, modality: str) -> int:
        """Feature dimension of a modality (input or output)."""
        for names, dims in ((self.input_modalities, self.input_dims), (self.output_modalities, self.output_dims)):
            if modality in names:
                return dims[names.index(modality)]
        raise MotionlabError(f"data spec: no modality '{modality}' (inputs {list(self.input_modalities)}, outputs {list(self.output_modalities)})")

    def speaker_index(self, label: str) -> int:
        """Integer id of a speaker/style label, as the dataset gives it; errors list the known labels."""
        if str(label) not in self.speaker_names:
            known = ", ".join(self.speaker_names) or "none: the data has no speakers.json"
            raise MotionlabError(f"unknown speaker/style '{label}' (known: {known})")
        return self.speaker_names.index(str(label))

    def to_dict(self) -> dict:
        """Plain types only, for checkpoints (loaded with ``weights_only=True``)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items() if k != "sequence_ids"}

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**fields)
