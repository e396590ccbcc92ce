"""``motionlab prepare DIR``: from a folder of paired takes to a data folder ready to train on.

A take is a motion source plus its audio (and optionally its words), paired by base name:

    take1.bvh + take1.wav            BVH motion capture
    take2.npy + take2.ogg            joint positions, frames x joints x 2|3 (give --keypoints_fps)
    take3/ (OpenPose *_keypoints.json) + take3.mp3
    take1.words.csv                  optional word timings (word,start,end in seconds)

Every take is decoded (in ``--jobs`` processes), audio and motion are brought to ``--fps`` and
trimmed to a common length (a difference over one second is reported; ``--strict`` refuses it),
splits are made (whole takes, or a split in time when there are too few takes), the motion
pipeline and the scalers are fitted on the train split only, and the scaled features, their
``.meta.json``, the ``.scaler.npz`` files, the motion pipeline and the split lists are written
next to the sources. ``prepare.json`` records the settings, the sources and, for every sequence,
where its audio came from, which generation uses for videos.

Re-running with the same settings and unchanged sources does nothing; anything else recomputes
(feature names encode the settings, so other settings write new files beside the old ones).
Bad takes are reported in the summary and skipped; every file is written atomically.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from motionlab.feature_extraction.meta import write_feature_meta
from motionlab.feature_extraction.scalers import scaler_path, write_scaled
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, save_npy, write_json, write_text

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
STEPS = ("audio", "motion", "text")
MANIFEST = "prepare.json"
MANIFEST_VERSION = 1


@dataclass
class PrepareSettings:
    """Everything that decides the prepared features (saved in prepare.json)."""

    fps: float = 20.0
    audio_features: list[str] = field(default_factory=lambda: ["mel", "onset", "beats"])
    n_mels: int = 80
    sample_rate: int = 22050
    motion_representation: str = "expmap"
    joints: list[str] | None = None
    mirror: bool = False
    keypoints_fps: float | None = None
    split_mode: str = "auto"  # takes | time | auto (time when fewer than 3 takes)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    text_embeddings: bool = False
    strict: bool = False
    max_duration_mismatch: float = 1.0
    seed: int = 0

    def audio_settings(self):
        from motionlab.feature_extraction.audio import AudioFeatureSettings

        return AudioFeatureSettings(features=list(self.audio_features), fps=self.fps, sr=self.sample_rate, n_mels=self.n_mels, n_mfcc=min(20, self.n_mels))


# ----------------------------------------------------------------------------- discovery


@dataclass
class Take:
    name: str
    motion: Path | None = None
    motion_kind: str | None = None  # bvh | keypoints | openpose
    audio: Path | None = None
    words: Path | None = None


def discover_takes(src: Path) -> dict[str, Take]:
    """Pair motion, audio and word files of a folder by base name."""
    takes: dict[str, Take] = {}

    def take(name: str) -> Take:
        return takes.setdefault(name, Take(name))

    for p in sorted(src.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if any(p.glob("*_keypoints.json")):
                take(p.name).motion, take(p.name).motion_kind = p, "openpose"
            continue
        suffix = p.suffix.lower()
        if suffix == ".bvh":
            take(p.stem).motion, take(p.stem).motion_kind = p, "bvh"
        elif suffix == ".npy" and "." not in p.stem:  # features are <seq>.<feature>.npy
            take(p.stem).motion, take(p.stem).motion_kind = p, "keypoints"
        elif suffix in AUDIO_EXTENSIONS:
            take(p.stem).audio = p
        elif p.name.endswith(".words.csv"):
            take(p.name[: -len(".words.csv")]).words = p
    return takes


def _fingerprint(paths) -> dict:
    out = {}
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            files = sorted(p.glob("*_keypoints.json"))
            out[str(p)] = [len(files), max((f.stat().st_mtime_ns for f in files), default=0)]
        else:
            st = p.stat()
            out[str(p)] = [st.st_size, st.st_mtime_ns]
    return out


# ----------------------------------------------------------------------------- per take (worker)


def _load_motion(take: Take, s: PrepareSettings):
    """(kind, payload, seconds): a resampled bvh Motion, or keypoints (T, J, D) at s.fps."""
    if take.motion_kind == "bvh":
        from motionlab.feature_extraction.bvh import load_bvh
        from motionlab.feature_extraction.motion import resample

        m = load_bvh(take.motion)
        seconds = m.n_frames * m.frame_time
        return "bvh", resample(m, s.fps), seconds
    if take.motion_kind == "keypoints":
        from motionlab.feature_extraction.keypoints import load_keypoints_npy

        if not s.keypoints_fps:
            raise MotionlabError(f"{take.motion}: keypoint arrays carry no frame rate; pass --keypoints_fps")
        kp = load_keypoints_npy(take.motion)
        return "keypoints", _resample_frames(kp, s.keypoints_fps, s.fps), kp.shape[0] / s.keypoints_fps
    from motionlab.feature_extraction.keypoints import load_openpose_folder

    if not s.keypoints_fps:
        raise MotionlabError(f"{take.motion}: OpenPose folders carry no frame rate; pass --keypoints_fps")
    kp, _ = load_openpose_folder(take.motion)
    return "openpose", _resample_frames(kp, s.keypoints_fps, s.fps), kp.shape[0] / s.keypoints_fps


def _resample_frames(x: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """Linear resampling of a (T, ...) array from src_fps to fps (T' = round(T * fps / src_fps))."""
    n = int(round(x.shape[0] * fps / src_fps))
    if n == x.shape[0]:
        return x.astype(np.float32)
    t_new = np.arange(n) / fps
    t_old = np.arange(x.shape[0]) / src_fps
    flat = x.reshape(x.shape[0], -1)
    out = np.stack([np.interp(t_new, t_old, flat[:, k]) for k in range(flat.shape[1])], 1)
    return out.reshape((n,) + x.shape[1:]).astype(np.float32)


def process_take(take: Take, s: PrepareSettings, steps: tuple[str, ...]) -> dict:
    """Decode one take; returns raw arrays (unscaled) or {'error': message}. Runs in a worker."""
    try:
        out: dict = {"take": take.name, "warnings": []}
        if "motion" in steps:
            out["motion_kind"], out["motion"], out["motion_seconds"] = _load_motion(take, s)
        if "audio" in steps:
            from motionlab.feature_extraction.audio import extract_audio_file

            feats, columns = extract_audio_file(take.audio, s.audio_settings())
            out["audio"], out["audio_columns"] = feats, columns
            out["audio_seconds"] = feats.shape[0] / s.fps
        if "text" in steps and take.words is not None:
            from motionlab.feature_extraction.text import read_word_timings

            out["words"] = read_word_timings(take.words)
            if steps == ("text",):  # text alone: the frame count comes from the take's audio
                import soundfile as sf

                if take.audio is None:
                    raise MotionlabError(f"{take.words}: no audio file beside it to give the take's duration")
                out["n_frames"] = int(round(sf.info(str(take.audio)).duration * s.fps))
        if "audio" in steps and "motion" in steps:
            diff = out["audio_seconds"] - out["motion_seconds"]
            if abs(diff) > s.max_duration_mismatch:
                msg = f"audio {take.audio.name} lasts {out['audio_seconds']:.2f} s but motion {take.motion.name} {out['motion_seconds']:.2f} s"
                if s.strict:
                    raise MotionlabError(msg + " (--strict refuses takes whose durations differ by more than 1 s)")
                out["warnings"].append(msg + "; trimmed to the shorter")
        return out
    except MotionlabError as e:
        return {"take": take.name, "error": str(e)}
    except Exception as e:  # a worker must report, never kill the whole run
        return {"take": take.name, "error": f"{type(e).__name__}: {e}"}


def _n_frames(r: dict) -> int:
    if "n_frames" in r:
        return r["n_frames"]
    lens = [len(r["audio"])] if "audio" in r else []
    if "motion" in r:
        m = r["motion"]
        lens.append(m.n_frames if r["motion_kind"] == "bvh" else m.shape[0])
    return min(lens)


# ----------------------------------------------------------------------------- splits


def make_splits(takes: list[str], lengths: dict[str, int], s: PrepareSettings) -> dict[str, tuple[str, str, int, int]]:
    """sequence id -> (split, take, start frame, end frame)."""
    mode = s.split_mode
    if mode == "auto":
        mode = "takes" if len(takes) >= 3 else "time"
    if not 0 <= s.val_fraction < 1 or not 0 <= s.test_fraction < 1 or s.val_fraction + s.test_fraction >= 1:
        raise MotionlabError(f"--val_fraction {s.val_fraction} and --test_fraction {s.test_fraction} must be in [0, 1) and sum to less than 1")
    seqs = {}
    if mode == "takes":
        order = list(np.random.default_rng(s.seed).permutation(sorted(takes)))
        n = len(order)
        n_test = int(round(s.test_fraction * n)) if s.test_fraction else 0
        n_val = int(round(s.val_fraction * n)) if s.val_fraction else 0
        if n >= 3:
            n_test, n_val = max(n_test, 1 if s.test_fraction else 0), max(n_val, 1 if s.val_fraction else 0)
        for i, t in enumerate(order):
            split = "test" if i < n_test else "val" if i < n_test + n_val else "train"
            seqs[t] = (split, t, 0, lengths[t])
    elif mode == "time":
        for t in sorted(takes):
            T = lengths[t]
            a = int(round(T * (1 - s.val_fraction - s.test_fraction)))
            b = int(round(T * (1 - s.test_fraction)))
            for split, lo, hi in (("train", 0, a), ("val", a, b), ("test", b, T)):
                if hi > lo:
                    seqs[f"{t}-{split}" if split != "train" else t] = (split, t, lo, hi)
    else:
        raise MotionlabError(f"--split_mode must be takes, time or auto, found {s.split_mode!r}")
    return seqs


def read_existing_splits(data_dir: Path) -> dict[str, str] | None:
    files = {sp: data_dir / f"base_filenames_{sp}.txt" for sp in ("train", "val", "test")}
    if not all(f.exists() for f in files.values()):
        return None
    return {line.strip(): sp for sp, f in files.items() for line in f.read_text().splitlines() if line.strip()}


# ----------------------------------------------------------------------------- main entry


@dataclass
class Summary:
    takes: int = 0
    sequences: int = 0
    frames: int = 0
    seconds: float = 0.0
    features: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    up_to_date: bool = False

    def text(self, data_dir) -> str:
        lines = [f"prepared {data_dir}: {self.takes} takes -> {self.sequences} sequences, {self.frames} frames, {self.seconds:.1f} s"]
        if self.up_to_date:
            lines = [f"{data_dir}: up to date (same settings and sources); --replace_existing recomputes"]
        for name, dims in self.features.items():
            lines.append(f"  feature {name}: {dims} dims")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} takes:")
            lines += [f"    {t}: {why}" for t, why in self.skipped.items()]
        return "\n".join(lines)


def prepare(src, settings: PrepareSettings | None = None, *, steps=STEPS, jobs: int = 1, replace_existing: bool = False, progress: bool = True) -> Summary:
    """Prepare the folder ``src`` in place (see the module docstring)."""
    s = settings or PrepareSettings()
    src = Path(src)
    if not src.is_dir():
        raise MotionlabError(f"{src}: folder not found")
    steps = tuple(st for st in STEPS if st in steps)
    if "audio" in steps:
        s.audio_settings()  # invalid settings fail once, here, not once per take
    discovered = discover_takes(src)
    summary = Summary()
    usable = []
    for name, t in discovered.items():
        if "motion" in steps and t.motion is None:
            if t.audio is not None and "audio" in steps and steps != ("audio",):
                summary.skipped[name] = f"no motion file (looked for {name}.bvh, {name}.npy or an OpenPose folder {name}/)"
            continue
        if "audio" in steps and t.audio is None:
            summary.skipped[name] = f"no audio file (looked for {name}{{{','.join(AUDIO_EXTENSIONS)}}})"
            continue
        if steps == ("text",) and t.words is None:
            continue
        usable.append(t)
    if not usable:
        raise MotionlabError(f"{src}: no usable takes for {'+'.join(steps)} (expected pairs like take1.bvh + take1.wav){_skipped_note(summary)}")

    manifest_path = src / MANIFEST
    key = {"version": MANIFEST_VERSION, "settings": asdict(s), "steps": list(steps), "sources": _fingerprint([p for t in usable for p in (t.motion, t.audio, t.words)])}
    if manifest_path.exists() and not replace_existing:
        old = read_json(manifest_path)
        if old.get("key") == key and all((src / f).exists() for f in old.get("outputs", [])):
            summary = Summary(**{k: v for k, v in old["summary"].items() if k in Summary.__dataclass_fields__})
            summary.up_to_date = True
            return summary

    results = _run_takes(usable, s, steps, jobs, progress)
    good = {}
    for r in results:
        if "error" in r:
            summary.skipped[r["take"]] = r["error"]
        else:
            summary.warnings += [f"{r['take']}: {w}" for w in r["warnings"]]
            good[r["take"]] = r
    if not good:
        raise MotionlabError(f"{src}: every take failed{_skipped_note(summary)}")

    lengths = {t: _n_frames(r) for t, r in good.items()}
    existing = read_existing_splits(src) if steps != STEPS else None
    if existing and all(t in existing for t in good):
        seqs = {t: (existing[t], t, 0, lengths[t]) for t in good}
    else:
        seqs = make_splits(list(good), lengths, s)
    by_take = {t: next(r for r in results if r["take"] == t) for t in good}
    sources = {t.name: t for t in usable}
    writer = _Writer(src, s, seqs, by_take, sources, summary)
    if "motion" in steps:
        writer.motion()
    if "audio" in steps:
        writer.audio()
    if "text" in steps:
        writer.text()
    writer.finish(manifest_path, key)
    return summary


def _skipped_note(summary: Summary) -> str:
    return ("; " + "; ".join(f"{t}: {why}" for t, why in summary.skipped.items())) if summary.skipped else ""


def _run_takes(takes: list[Take], s: PrepareSettings, steps, jobs: int, progress: bool) -> list[dict]:
    from tqdm import tqdm

    bar = dict(total=len(takes), desc="takes", unit="take", disable=not progress)
    if jobs <= 1 or len(takes) == 1:
        return [process_take(t, s, steps) for t in tqdm(takes, **bar)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(process_take, t, s, steps) for t in takes]
        return [f.result() for f in tqdm(futures, **bar)]


class _Writer:
    """Fits on the train split and writes every output of one prepare run."""

    def __init__(self, data_dir: Path, s: PrepareSettings, seqs, results, sources, summary: Summary):
        self.dir, self.s, self.seqs, self.results, self.sources, self.summary = data_dir, s, seqs, results, sources, summary
        self.outputs: list[str] = []
        self.sequence_info: dict = {}
        for seq, (split, take, lo, hi) in seqs.items():
            audio = sources[take].audio
            self.sequence_info[seq] = {"split": split, "take": take, "start_frame": lo, "frames": hi - lo, "audio": str(audio) if audio else None, "audio_start": lo / s.fps, "mirrored": False}

    def _train_seqs(self):
        return [q for q, (sp, *_rest) in self.seqs.items() if sp == "train"]

    def _write_feature(self, name: str, arrays: dict[str, np.ndarray], columns, settings: dict, kind: str, scale: bool = True):
        """Fit the scaler on the train sequences, write scaled arrays, scaler and meta."""
        if scale:
            self.outputs += write_scaled(self.dir, name, arrays, [q for q in arrays if self._split_of(q) == "train"])
        else:
            for q, a in arrays.items():
                save_npy(self.dir / f"{q}.{name}.npy", a.astype(np.float32))
                self.outputs.append(f"{q}.{name}.npy")
        write_feature_meta(self.dir, name, self.s.fps, columns, {**settings, "scaled": scale}, kind=kind)
        self.outputs.append(f"{name}.meta.json")
        self.summary.features[name] = len(columns)

    def _split_of(self, q: str) -> str:
        return self.sequence_info[q]["split"]

    def _cut(self, take: str, a, lo: int, hi: int):
        return a[lo:hi] if isinstance(a, np.ndarray) else a.slice(lo, hi)

    def motion(self):
        kinds = {r["motion_kind"] for r in self.results.values()}
        if len(kinds) > 1:
            raise MotionlabError(f"{self.dir}: takes mix motion kinds {sorted(kinds)}; prepare one kind per folder")
        kind = kinds.pop()
        cut = {q: self._cut(t, self.results[t]["motion"], lo, hi) for q, (_, t, lo, hi) in self.seqs.items()}
        if self.s.mirror:
            self._add_mirrored(cut, kind)
        if kind == "bvh":
            from motionlab.feature_extraction.motion import MotionPipeline

            pipe = MotionPipeline(representation=self.s.motion_representation, fps=self.s.fps, joints=self.s.joints)
            pipe.fit([cut[q] for q in cut if self._split_of(q) == "train"] or list(cut.values()))
            feats = {q: pipe.transform(m)[0] for q, m in cut.items()}
            name = pipe.feature_name()
            pipe.save(self.dir / f"{name}.pipeline.json")
            self.outputs += [f"{name}.pipeline.json", f"{name}.pipeline.npz"]
            for q, m in cut.items():  # where each sequence starts, so a BVH can be placed like the source
                pos, heading = pipe.start_state(m)
                self.sequence_info[q].update(start_position=[float(v) for v in pos], start_heading=heading)
            settings = {"source": "bvh", "representation": self.s.motion_representation, "pipeline": f"{name}.pipeline.json"}
            self._write_feature(name, feats, pipe.columns, settings, kind="motion")
        else:
            from motionlab.feature_extraction.keypoints import keypoint_columns, keypoints_to_features

            J, D = next(iter(cut.values())).shape[1:]
            name = f"{'openpose' if kind == 'openpose' else 'keypoints'}{D}d_{self.s.fps:g}fps"
            root = None if kind == "openpose" else 0  # OpenPose is already neck-relative and scaled
            feats = {q: keypoints_to_features(kp, root_joint=root) for q, kp in cut.items()}
            settings = {"source": kind, "joints": int(J), "dims": int(D), "root_joint": root, "source_fps": self.s.keypoints_fps}
            self._write_feature(name, feats, keypoint_columns(J, D), settings, kind="keypoints")
        self.motion_feature = name
        for q in cut:
            self.summary.frames += len(feats[q])
        self.summary.seconds = self.summary.frames / self.s.fps

    def _add_mirrored(self, cut: dict, kind: str):
        """Mirrored copies of the train sequences (data augmentation; never in val/test)."""
        if kind != "bvh":
            raise MotionlabError("--mirror needs BVH takes (keypoints carry no left/right joint names)")
        from motionlab.feature_extraction.motion import mirror

        for q in self._train_seqs():
            mq = f"{q}-mirror"
            cut[mq] = mirror(cut[q])
            self.seqs[mq] = self.seqs[q]
            self.sequence_info[mq] = {**self.sequence_info[q], "mirrored": True}

    def audio(self):
        s = self.s
        arrays, columns = {}, None
        for q, (_, t, lo, hi) in self.seqs.items():
            r = self.results[t]
            arrays[q], columns = r["audio"][lo:hi], r["audio_columns"]
        name = _audio_feature_name(s)
        self._write_feature(name, arrays, columns, {"source": "audio", **s.audio_settings().to_dict()}, kind="audio")
        if not self.summary.frames:  # audio alone (extract audio): count its frames
            self.summary.frames = sum(len(a) for a in arrays.values())
            self.summary.seconds = self.summary.frames / s.fps

    def text(self):
        from motionlab.feature_extraction.text import Vocabulary, word_timings_to_frames

        with_words = {t for t, r in self.results.items() if "words" in r}
        if not with_words:
            return
        missing = sorted(set(self.results) - with_words)
        if missing:
            raise MotionlabError(f"{self.dir}: word timings missing for takes {missing[:5]} (expected <take>.words.csv for every take)")
        vocab = Vocabulary.from_timings(self.results[t]["words"] for t in {self.seqs[q][1] for q in self._train_seqs()})
        vocab.save(self.dir / "vocabulary.json")
        self.outputs.append("vocabulary.json")
        name = f"text_tokens_{self.s.fps:g}fps"
        arrays = {}
        for q, (_, t, lo, hi) in self.seqs.items():
            r = self.results[t]
            arrays[q] = word_timings_to_frames(r["words"], vocab, _n_frames(r), self.s.fps)[lo:hi]
        self._write_feature(name, arrays, ["token_id"], {"source": "words", "vocabulary": "vocabulary.json", "size": len(vocab.words)}, kind="text", scale=False)
        if self.s.text_embeddings:
            from motionlab.feature_extraction.text import sentence_embedding_frames

            emb = {}
            for q, (_, t, lo, hi) in self.seqs.items():
                r = self.results[t]
                emb[q] = sentence_embedding_frames(r["words"], _n_frames(r), self.s.fps)[lo:hi]
            dims = next(iter(emb.values())).shape[1]
            self._write_feature(f"text_minilm_{self.s.fps:g}fps", emb, [f"emb_{i}" for i in range(dims)], {"source": "words", "model": "all-MiniLM-L6-v2"}, kind="text", scale=False)

    def finish(self, manifest_path: Path, key: dict):
        splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        for q, info in self.sequence_info.items():
            splits[info["split"]].append(q)
        for sp, names in splits.items():
            write_text(self.dir / f"base_filenames_{sp}.txt", "".join(f"{n}\n" for n in sorted(names)))
            self.outputs.append(f"base_filenames_{sp}.txt")
        self.summary.takes = len(self.results)
        self.summary.sequences = len(self.sequence_info)
        write_json(manifest_path, {"key": key, "sequences": self.sequence_info, "outputs": sorted(set(self.outputs)), "summary": asdict(self.summary)})


def _audio_feature_name(s: PrepareSettings) -> str:
    from motionlab.feature_extraction.audio import feature_name

    return feature_name(s.audio_settings())


def read_manifest(data_dir) -> dict | None:
    p = Path(data_dir) / MANIFEST
    return read_json(p) if p.exists() else None


# ----------------------------------------------------------------------------- CLI


def add_prepare_arguments(p):
    d = PrepareSettings()
    p.add_argument("dir", help="folder of paired takes (take1.bvh + take1.wav, ...); features are written into it")
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate of every feature")
    p.add_argument("--audio_features", default=",".join(d.audio_features), help="comma-separated: mel, logmel, mfcc, chroma, onset, beats, downbeats, flux, rms")
    p.add_argument("--n_mels", type=int, default=d.n_mels)
    p.add_argument("--sample_rate", type=int, default=d.sample_rate, help="audio is resampled to this rate before analysis")
    p.add_argument("--motion_representation", default=d.motion_representation, choices=["expmap", "rot6d", "quat", "positions"])
    p.add_argument("--joints", default=None, help="comma-separated BVH joint names to keep (default: all)")
    p.add_argument("--mirror", action="store_true", help="add left/right mirrored copies of the train takes")
    p.add_argument("--keypoints_fps", type=float, default=None, help="frame rate of .npy / OpenPose keypoint takes")
    p.add_argument("--split_mode", default=d.split_mode, choices=["auto", "takes", "time"])
    p.add_argument("--val_fraction", type=float, default=d.val_fraction)
    p.add_argument("--test_fraction", type=float, default=d.test_fraction)
    p.add_argument("--text_embeddings", action="store_true", help="also per-frame sentence embeddings (pip install motionlab[text])")
    p.add_argument("--strict", action="store_true", help="refuse takes whose audio and motion durations differ by more than 1 s")
    p.add_argument("--seed", type=int, default=d.seed, help="shuffles takes into splits")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--replace_existing", action="store_true", help="recompute even when prepare.json says the folder is up to date")
    p.add_argument("--no_progress", action="store_true")
    return p


def settings_from_args(args) -> PrepareSettings:
    return PrepareSettings(
        fps=args.fps, audio_features=[f for f in args.audio_features.split(",") if f], n_mels=args.n_mels, sample_rate=args.sample_rate,
        motion_representation=args.motion_representation, joints=args.joints.split(",") if args.joints else None, mirror=args.mirror,
        keypoints_fps=args.keypoints_fps, split_mode=args.split_mode, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        text_embeddings=args.text_embeddings, strict=args.strict, seed=args.seed,
    )


def main(argv=None, steps=STEPS, prog="motionlab prepare") -> int:
    import argparse

    p = add_prepare_arguments(argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = prepare(args.dir, settings_from_args(args), steps=steps, jobs=args.jobs, replace_existing=args.replace_existing, progress=not args.no_progress)
    print(summary.text(args.dir))
    return 0


def scale_features(data_dir, features=None) -> dict[str, str]:
    """Standardise features that have a ``.meta.json`` but no scaler (e.g. written by an importer).

    Fits on the train split, rewrites the arrays scaled (atomically) and saves the scaler, so
    training sees standardised values and generation inverse-scales. Token ids (kind ``text`` with
    integer ids) and features already scaled are left alone. Returns feature -> what was done.
    """
    from motionlab.datasets.multimodal_dataset import open_feature, read_split
    from motionlab.feature_extraction.meta import read_feature_meta

    data_dir = Path(data_dir)
    splits = {sp: read_split(data_dir, sp) for sp in ("train", "val", "test")}
    names = features or sorted(p.name[: -len(".meta.json")] for p in data_dir.glob("*.meta.json"))
    done = {}
    for name in names:
        meta = read_feature_meta(data_dir, name)
        if scaler_path(data_dir, name).exists() or meta.get("settings", {}).get("scaled"):
            done[name] = "already scaled"
            continue
        if meta.get("settings", {}).get("source") == "words":
            done[name] = "token ids: not scaled"
            continue
        seqs = [q for ids in splits.values() for q in ids if (data_dir / f"{q}.{name}.npy").exists()]
        arrays = {q: np.array(open_feature(data_dir, q, name), dtype=np.float32) for q in seqs}
        write_scaled(data_dir, name, arrays, splits["train"])
        write_feature_meta(data_dir, name, meta["fps"], meta["columns"], {**meta.get("settings", {}), "scaled": True}, kind=meta["kind"])
        done[name] = f"scaled ({len(arrays)} sequences)"
    return done


def extract_main(argv) -> int:
    """``motionlab extract audio|motion|keypoints|text|scale DIR ...``: one step of prepare."""
    kinds = {"audio": ("audio",), "motion": ("motion",), "keypoints": ("motion",), "text": ("text",)}
    if argv and argv[0] == "scale":
        import argparse

        p = argparse.ArgumentParser(prog="motionlab extract scale", description=scale_features.__doc__)
        p.add_argument("dir")
        p.add_argument("--features", default="", help="comma-separated feature names (default: every unscaled feature)")
        args = p.parse_args(argv[1:])
        for name, what in scale_features(args.dir, [f for f in args.features.split(",") if f] or None).items():
            print(f"{name}: {what}")
        return 0
    if not argv or argv[0] not in kinds:
        raise MotionlabError(f"usage: motionlab extract {{{'|'.join(kinds)}|scale}} DIR [options]")
    return main(argv[1:], steps=kinds[argv[0]], prog=f"motionlab extract {argv[0]}")

