"""Windows over time-synced ``<seq>.<feature>.npy`` arrays: the generic dataset of Transflower.

A window is (sequence, start frame ``s``). Modality ``m`` with length ``L`` and time offset ``o``
contributes frames ``[s + o, s + o + L)``. A start is valid when every modality's frames lie
inside the sequence, so ``s`` runs from ``max(0, -min(o))`` to ``T - max(o + L)`` in steps of
``--window_hop``. Arrays are memory-mapped and opened lazily in each worker process.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from motionlab.datasets.base_dataset import BaseDataset
from motionlab.dataspec import DataSpec
from motionlab.options import add_bool_option, add_list_option
from motionlab.utils.errors import MotionlabError
from motionlab.datafolder import DataFolder

log = logging.getLogger(__name__)

def window_starts(length: int, lengths: list[int], offsets: list[int], hop: int) -> range:
    """Valid window starts for a sequence of ``length`` frames (see module docstring)."""
    first = max(0, -min(offsets))
    last = length - max(o + n for o, n in zip(offsets, lengths))
    return range(first, last + 1, hop) if last >= first else range(0)


class MultimodalDataset(BaseDataset):
    """Windows of several input and output modalities over time-synced feature arrays."""

    @staticmethod
    def modify_commandline_options(parser, known):
        add_list_option(parser, "--input_modalities", str, ["audio", "motion"], "feature names fed to the model")
        add_list_option(parser, "--output_modalities", str, ["motion"], "feature names the model predicts")
        add_list_option(parser, "--input_lengths", int, [20, 10], "window length per input modality (frames)")
        add_list_option(parser, "--output_lengths", int, [1], "window length per output modality (frames)")
        add_list_option(parser, "--input_time_offsets", int, [], "start offset per input modality (default 0s)")
        add_list_option(parser, "--output_time_offsets", int, [], "start offset per output modality (default 0s)")
        parser.add_argument("--window_hop", type=int, default=1, help="frames between consecutive window starts")
        add_bool_option(parser, "--fix_lengths", False, "trim each sequence's modalities to the shortest (in memory)")
        add_bool_option(parser, "--check_finite", True, "scan arrays for NaN/inf once when the dataset opens")
        parser.add_argument("--pose_clusters", type=int, default=0, help="K > 0: every item gets 'pose_cluster', per-frame k-means labels (K clusters of pose + velocity + speed of the train split, stored in the data folder) of the first output window")
        parser.add_argument("--pose_cluster_seed", type=int, default=0, help="seed of the pose-cluster k-means")
        parser.add_argument("--pose_cluster_normalize", choices=["none", "zscore"], default="none", help="k-means on raw units (none, as Mix-StAGE) or on standardised columns (zscore)")
        add_list_option(parser, "--pose_cluster_styles", str, [], "fit the pose clusters on the train sequences of these speakers/styles only (continual learning: the first style's)")
        add_bool_option(parser, "--balance_speakers", False, "training batches draw speakers uniformly and windows uniformly within a speaker (speakers.json needed)")
        return parser

    def __init__(self, opt, split: str | None = "train"):
        super().__init__(opt, split)
        self.data_dir = Path(opt.data_dir)
        self.folder = DataFolder(self.data_dir)
        self.inputs, self.outputs = list(opt.input_modalities), list(opt.output_modalities)
        self.modalities = self.inputs + self.outputs
        self.lengths, self.offsets = self._window_spec(opt)
        if opt.window_hop < 1:
            raise MotionlabError(f"--window_hop must be >= 1, got {opt.window_hop}")

        self.sequences = self.folder.split(split) if split is not None else []
        if split == "train" and not self.sequences:
            raise MotionlabError(f"{self.folder.split_file(split)}: lists no sequences (expected one sequence id per line)")
        names = list(dict.fromkeys(self.modalities))  # a modality may be both input and output
        self.speaker_names, self._speaker_labels = self._read_speakers()
        speaker_of = {s: self.speaker_names.index(str(self._speaker_labels[s])) for s in self.sequences} if self.speaker_names else {}
        dims: dict[str, int] = {}
        first_of: dict[str, str] = {}  # the sequence that set a feature's width, named when another differs
        self.seq_ids, self.seq_lengths, self.seq_speakers = [], [], []
        starts, skipped = [], []
        for seq in self.sequences:
            arrays = {n: self.folder.open_feature(seq, n, opt.check_finite) for n in names}
            for n, a in arrays.items():
                first_of.setdefault(n, seq)
                if dims.setdefault(n, a.shape[1]) != a.shape[1]:
                    raise MotionlabError(f"{self.folder.feature_path(seq, n)}: has {a.shape[1]} features, but "
                                         f"{self.folder.feature_path(first_of[n], n)} has {dims[n]} (every sequence needs the same)")
            length = self._common_length(seq, arrays, opt.fix_lengths)
            seq_starts = window_starts(length, self.lengths, self.offsets, opt.window_hop)
            if len(seq_starts) == 0:
                skipped.append(seq)
                continue
            k = len(self.seq_ids)
            self.seq_ids.append(seq)
            self.seq_lengths.append(length)
            self.seq_speakers.append(speaker_of.get(seq, -1) if speaker_of else -1)
            starts.append(np.stack([np.full(len(seq_starts), k), np.asarray(seq_starts)], 1))
        if skipped:
            log.warning(
                "%s split: skipped %d of %d sequences shorter than one window (%d frames needed): %s",
                split, len(skipped), len(self.sequences), max(o + n for o, n in zip(self.offsets, self.lengths)) - min(0, min(self.offsets)),
                ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""),
            )
        # One int64 (N, 2) table of (sequence index, start frame): enumerated once, cheap to pickle.
        self.windows = np.concatenate(starts) if starts else np.zeros((0, 2), dtype=np.int64)
        self.feature_dims = dims
        self.num_speakers = len(self.speaker_names)
        self._arrays: dict | None = None
        self.pose_clusters = self._pose_clusters(opt) if split is not None else None

    def _pose_clusters(self, opt):
        """The stored k-means clusters of the first output feature (fitted now on first use or when stale), or None."""
        k = int(getattr(opt, "pose_clusters", 0) or 0)
        if k < 0:
            raise MotionlabError(f"--pose_clusters: expected 0 (off) or a number of clusters >= 2, got {k}")
        if not k:
            return None
        from motionlab.feature_extraction import pose_clusters

        return pose_clusters.load_or_fit(
            self.folder, self.outputs[0], k, seed=getattr(opt, "pose_cluster_seed", 0), normalize=getattr(opt, "pose_cluster_normalize", "none"),
            styles=tuple(getattr(opt, "pose_cluster_styles", None) or ()),
        )

    def window_pose_clusters(self, k: int, s: int) -> np.ndarray:
        """(L_out,) int64 cluster labels of sequence ``k``'s first output window starting at ``s`` (raw frames, nearest centre)."""
        i = len(self.inputs)
        name, length, offset = self.outputs[0], self.lengths[i], self.offsets[i]
        a = self._array(k, name)
        first = s + offset
        frames = np.array(a[max(first - 1, 0) : first + length], dtype=np.float32)
        scaler = self.folder.scaler(name)
        if scaler is not None:
            frames = scaler.inverse_transform(frames)
        previous = frames[0] if first > 0 else None
        return self.pose_clusters.labels(frames[1:] if first > 0 else frames, previous=previous)

    def window_speakers(self) -> np.ndarray:
        """(N,) speaker id of every window (-1 without speakers.json)."""
        if not len(self.windows):
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.seq_speakers, dtype=np.int64)[self.windows[:, 0]]

    def train_sampler(self, seed: int):
        """``--balance_speakers``: a :class:`SpeakerBalancedSampler` for the training loader (else None: shuffle)."""
        if not getattr(self.opt, "balance_speakers", False):
            return None
        if not self.num_speakers:
            raise MotionlabError(f"--balance_speakers: {self.data_dir / 'speakers.json'} is missing; balancing needs a speaker label per sequence")
        from motionlab.datasets.samplers import SpeakerBalancedSampler

        return SpeakerBalancedSampler(self.window_speakers(), seed=seed)

    def _feature_dims(self) -> dict[str, int]:
        """Dims of every modality: from the split's arrays, else from any sequence that has them (generation)."""
        if self.feature_dims:
            return self.feature_dims
        dims = {}
        for name in dict.fromkeys(self.modalities):
            seqs = self.folder.feature_sequences(name)
            if not seqs:
                raise MotionlabError(f"{self.data_dir}: no '{name}' feature arrays (<seq>.{name}.npy)")
            dims[name] = int(self.folder.open_feature(seqs[0], name, check_finite=False).shape[1])
        self.feature_dims = dims
        return dims

    def _fps(self) -> float | None:
        for name in self.outputs + self.inputs:
            if self.folder.meta_path(name).exists():
                return float(self.folder.meta(name)["fps"])
        return None

    def data_spec(self) -> DataSpec:
        dims = self._feature_dims()
        return DataSpec(
            input_modalities=self.inputs, output_modalities=self.outputs,
            input_dims=[dims[n] for n in self.inputs], output_dims=[dims[n] for n in self.outputs],
            fps=self._fps(), speaker_names=self.speaker_names, num_windows=len(self), sequence_ids=self.seq_ids,
        )

    def _window_spec(self, opt):
        ni, no = len(self.inputs), len(self.outputs)
        if ni == 0 or no == 0:
            raise MotionlabError("--input_modalities and --output_modalities must each name at least one feature")
        spec = {}
        for name, lst, n, default in (
            ("input_lengths", opt.input_lengths, ni, None),
            ("output_lengths", opt.output_lengths, no, None),
            ("input_time_offsets", opt.input_time_offsets, ni, 0),
            ("output_time_offsets", opt.output_time_offsets, no, 0),
        ):
            lst = list(lst) if lst else ([default] * n if default is not None else [])
            if len(lst) != n:
                what = "input" if name.startswith("input") else "output"
                raise MotionlabError(f"--{name} has {len(lst)} values {lst} but there are {n} {what} modalities {self.inputs if what == 'input' else self.outputs}")
            spec[name] = lst
        if any(n < 1 for n in spec["input_lengths"] + spec["output_lengths"]):
            raise MotionlabError(f"window lengths must be >= 1, got input {spec['input_lengths']} output {spec['output_lengths']}")
        lengths = spec["input_lengths"] + spec["output_lengths"]
        offsets = spec["input_time_offsets"] + spec["output_time_offsets"]
        return lengths, offsets

    def _common_length(self, seq, arrays, fix_lengths: bool) -> int:
        lens = {n: a.shape[0] for n, a in arrays.items()}
        shortest = min(lens.values())
        if len(set(lens.values())) > 1:
            detail = ", ".join(f"{n}: {l}" for n, l in lens.items())
            if not fix_lengths:
                raise MotionlabError(f"{self.data_dir}: sequence '{seq}' has modalities of different lengths ({detail}); pass --fix_lengths to trim them to the shortest")
            log.warning("sequence '%s': trimming modalities to %d frames (%s)", seq, shortest, detail)
        return shortest

    def _read_speakers(self):
        """(sorted labels, sequence id -> label); every sequence of the split needs a label."""
        labels = self.folder.speakers()
        if not labels:
            return [], {}
        missing = [s for s in self.sequences if s not in labels]
        if missing:
            raise MotionlabError(f"{self.data_dir / 'speakers.json'}: no speaker label for sequence(s) {', '.join(missing[:5])}")
        return sorted(set(labels.values())), labels

    def __len__(self) -> int:
        return len(self.windows)

    def __getstate__(self):  # memory maps are reopened in each worker, never pickled
        state = dict(self.__dict__)
        state["_arrays"] = None
        return state

    def _array(self, k: int, name: str) -> np.ndarray:
        if self._arrays is None:
            self._arrays = {}
        key = (k, name)
        if key not in self._arrays:
            self._arrays[key] = np.load(self.folder.feature_path(self.seq_ids[k], name), mmap_mode="r", allow_pickle=False)
        return self._arrays[key]

    def window(self, index: int) -> tuple[int, int]:
        k, s = self.windows[index]
        return int(k), int(s)

    def __getitem__(self, index: int) -> dict:
        k, s = self.window(index)
        cut = [
            np.array(self._array(k, n)[s + o : s + o + L], dtype=np.float32)
            for n, L, o in zip(self.modalities, self.lengths, self.offsets)
        ]
        item = {"inputs": cut[: len(self.inputs)], "outputs": cut[len(self.inputs) :], "window_id": index, "sequence_index": k, "start": s}
        if self.num_speakers:
            item["speaker"] = self.seq_speakers[k]
        if self.pose_clusters is not None:
            item["pose_cluster"] = self.window_pose_clusters(k, s)
        return item

    def sequence_inputs(self, seq: str) -> dict[str, np.ndarray]:
        """Whole arrays of one sequence, trimmed to a common length: every input, and the outputs it has (seed, ground truth)."""
        given = [n for n in self.inputs if n not in self.outputs]
        features = [n for n in dict.fromkeys(self.modalities) if n in given or self.folder.has_feature(seq, n)]
        return self.folder.load_sequence(seq, features, fix_lengths=True)

    def sequence_conditions(self, seq: str) -> dict:
        if not self.speaker_names:
            return {}
        if seq not in self._speaker_labels:
            raise MotionlabError(f"{self.data_dir / 'speakers.json'}: no speaker label for sequence '{seq}'")
        return {"speaker": self.speaker_names.index(str(self._speaker_labels[seq]))}
