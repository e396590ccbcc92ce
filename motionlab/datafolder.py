"""``DataFolder``: the one place that knows the layout of a data folder.

A data folder holds ``<seq>.<feature>.npy`` arrays (rank 2, frames x features), the split lists
``base_filenames_<split>.txt``, ``<feature>.meta.json``, ``<feature>.scaler.npz`` (with a record
of the arrays it was applied to), ``<feature>.pipeline.json/.npz`` (BVH features),
``speakers.json`` and ``prepare.json``. Every other module asks this class for paths, splits,
arrays, metadata, scalers and pipelines, so the layout is spelled once and everything written
goes through the atomic writers of :mod:`motionlab.utils.io`.

Ground floor: imports only ``motionlab.utils``, numpy and json (the motion pipeline and the
scaler class are imported lazily), so datasets, training and inference can all build on it.
"""

from __future__ import annotations

import hashlib
import math
import tokenize
import zipfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, save_npy, save_npz, write_json, write_text

# What np.load raises on a damaged .npy/.npz header or body (found by tests/test_fuzz_parsers.py).
NPY_ERRORS = (ValueError, OSError, EOFError, SyntaxError, TypeError, KeyError, NotImplementedError, zipfile.BadZipFile, tokenize.TokenError)

SPLITS = ("train", "val", "test")
META_KEYS = ("feature", "fps", "dims", "columns", "settings", "kind")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
MANIFEST = "prepare.json"
SPEAKERS = "speakers.json"
SCALER_FORMAT = "motionlab.scaler"
SCALER_VERSION = 2
RESCALE_HINT = "re-run `motionlab extract scale {dir}`"


def fps_tag(fps: float) -> str:
    """The one spelling of a frame rate in names: 20 -> '20fps', 29.97 -> '29.97fps', 20.00048 -> '20fps'.

    Rounded to 2 decimals, so a BVH frame time such as 0.008333 s still names 120 fps.
    """
    try:
        f = float(fps)
    except (TypeError, ValueError):
        raise MotionlabError(f"fps: expected a positive number, found {fps!r}") from None
    if not math.isfinite(f) or f <= 0:
        raise MotionlabError(f"fps: expected a positive number, found {fps!r}")
    return f"{round(f, 2):.2f}".rstrip("0").rstrip(".") + "fps"


def feature_name(prefix: str, fps: float) -> str:
    """``feature_name('text_tokens', 20)`` -> ``text_tokens_20fps``."""
    return f"{prefix}_{fps_tag(fps)}"


def check_seq_id(seq, where: str) -> str:
    """Sequence ids become file names and split-file lines: refuse ones that cannot round-trip."""
    s = str(seq).strip()
    if not s or any(c in s for c in "/\\\n\r\t ") or s.startswith("#"):
        raise MotionlabError(f"{where}: sequence id {str(seq)!r} cannot be used as a file name (expected no slashes, spaces or leading '#')")
    return s


def array_checksum(a: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order), read in blocks so memory maps stay cheap."""
    a = np.asarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    flat = a.reshape(len(a), -1) if a.ndim else a.reshape(1, 1)
    step = max(1, (1 << 22) // max(1, flat.shape[1] * flat.itemsize))
    for i in range(0, len(flat), step):
        h.update(np.ascontiguousarray(flat[i : i + step]).tobytes())
    return h.hexdigest()


class DataFolder:
    """A data folder: paths, splits, arrays, metadata, scalers, pipelines, speakers and the prepare manifest.

    Metadata, scalers and pipelines are cached per instance; make a new instance after another
    process rewrites the folder.
    """

    fps_tag = staticmethod(fps_tag)
    feature_name = staticmethod(feature_name)
    check_seq_id = staticmethod(check_seq_id)

    def __init__(self, path):
        self.path = Path(path)
        self._meta: dict[str, dict] = {}
        self._scalers: dict[str, object] = {}
        self._pipelines: dict[str, object] = {}
        self._invalidated: set[str] = set()

    def __repr__(self) -> str:
        return f"DataFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ paths

    def split_file(self, name: str) -> Path:
        return self.path / f"base_filenames_{name}.txt"

    def feature_path(self, seq: str, feature: str) -> Path:
        return self.path / f"{seq}.{feature}.npy"

    def meta_path(self, feature: str) -> Path:
        return self.path / f"{feature}.meta.json"

    def scaler_path(self, feature: str) -> Path:
        return self.path / f"{feature}.scaler.npz"

    def pipeline_path(self, feature: str) -> Path:
        return self.path / f"{feature}.pipeline.json"

    def pose_clusters_path(self, feature: str, k: int, styles: Sequence[str] = ()) -> Path:
        """k-means pose clusters of a feature (``motionlab.feature_extraction.pose_clusters``), one file per k
        (and per set of styles when fitted on some styles' sequences only, as continual learning does)."""
        tag = "".join(f"_{s}" for s in sorted(styles))
        return self.path / f"{feature}.pose_clusters_k{int(k)}{tag}.npz"

    def _require_folder(self) -> None:
        if not self.path.is_dir():
            raise MotionlabError(f"data folder {self.path} does not exist (run `motionlab prepare` or `motionlab make-demo-data`)")

    # ------------------------------------------------------------------ splits

    def split(self, name: str) -> list[str]:
        """Sequence ids of a split (one a line; blank lines and #comments ignored)."""
        self._require_folder()
        f = self.split_file(name)
        if not f.exists():
            raise MotionlabError(f"{f}: split file missing (expected one sequence id per line; `motionlab prepare` writes it)")
        try:
            text = f.read_text()
        except UnicodeDecodeError as e:
            raise MotionlabError(f"{f}: not a text file of sequence ids (UTF-8): {e}") from None
        return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]

    def splits(self) -> dict[str, list[str]]:
        """train/val/test -> sequence ids (every split file must exist)."""
        return {name: self.split(name) for name in SPLITS}

    def has_splits(self) -> bool:
        return all(self.split_file(name).exists() for name in SPLITS)

    def check_splits(self, splits: Mapping[str, Iterable[str]], *, allow_empty: bool = False) -> dict[str, list[str]]:
        """Validate splits as :meth:`write_splits` would, writing nothing (importers check before writing data)."""
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise MotionlabError(f"{self.path}: unknown split names {unknown}; expected {list(SPLITS)}")
        clean: dict[str, list[str]] = {}
        seen: dict[str, str] = {}
        for name in SPLITS:
            ids = [check_seq_id(s, str(self.split_file(name))) for s in splits.get(name, ())]
            for s in ids:
                if s in seen:
                    raise MotionlabError(f"{self.path}: sequence '{s}' is in both the {seen[s]} and the {name} split")
                seen[s] = name
            clean[name] = ids
        if not clean["train"]:
            raise MotionlabError(f"{self.split_file('train')}: the train split would be empty (expected at least one sequence)")
        empty = [name for name in ("val", "test") if not clean[name]]
        if empty and not allow_empty:
            raise MotionlabError(
                f"{self.path}: the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} would be empty "
                f"({len(clean['train'])} train sequences); training validates on val and evaluation uses test, "
                "so give at least one sequence to each"
            )
        return clean

    def write_splits(self, splits: Mapping[str, Iterable[str]], *, allow_empty: bool = False) -> None:
        """Write the three split files: the only writer of them.

        Refuses an empty train split always, and an empty val/test split unless ``allow_empty``
        (training needs a val split; a silent empty file only fails later, far from the cause).
        Sequence ids are checked to round-trip as file names and to be in one split only.
        """
        clean = self.check_splits(splits, allow_empty=allow_empty)
        self.path.mkdir(parents=True, exist_ok=True)
        for name in SPLITS:
            write_text(self.split_file(name), "".join(f"{s}\n" for s in clean[name]))

    def sequences(self) -> list[str]:
        """Every sequence id of the three splits, train first."""
        return [s for ids in self.splits().values() for s in ids]

    # ------------------------------------------------------------------ feature arrays

    def has_feature(self, seq: str, feature: str) -> bool:
        return self.feature_path(seq, feature).exists()

    def feature_sequences(self, feature: str) -> list[str]:
        """Sequence ids that have a ``feature`` array on disk (whatever the splits say)."""
        tail = f".{feature}.npy"
        return sorted(p.name[: -len(tail)] for p in self.path.glob(f"*{tail}") if not p.name.startswith("."))

    def open_feature(self, seq: str, feature: str, check_finite: bool = True) -> np.ndarray:
        """Memory-map one feature array, checking it is a finite rank-2 array."""
        path = self.feature_path(seq, feature)
        if not path.exists():
            raise MotionlabError(f"{path}: missing: sequence '{seq}' is listed in a split but has no '{feature}' feature file")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except NPY_ERRORS as e:
            raise MotionlabError(f"{path}: not a numeric .npy array ({e})") from None
        if arr.ndim != 2:
            raise MotionlabError(f"{path}: expected a rank-2 array (frames x features), found shape {arr.shape}")
        if arr.dtype.kind not in "fiub":
            raise MotionlabError(f"{path}: expected a numeric array (frames x features), found dtype {arr.dtype}")
        if check_finite and arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise MotionlabError(f"{path}: contains {int(bad.sum())} NaN/inf values (first at frame {r}, column {c})")
        return arr

    def load_sequence(self, seq: str, features: Sequence[str], fix_lengths: bool = True) -> dict[str, np.ndarray]:
        """Whole float32 arrays of one sequence, trimmed to their common length (else lengths must agree)."""
        arrays = {n: self.open_feature(seq, n) for n in features}
        if not arrays:
            return {}
        lens = {n: a.shape[0] for n, a in arrays.items()}
        if not fix_lengths and len(set(lens.values())) > 1:
            raise MotionlabError(f"{self.path}: sequence '{seq}' has features of different lengths ({lens}); trim them with fix_lengths")
        n = min(lens.values())
        return {k: np.array(a[:n], dtype=np.float32) for k, a in arrays.items()}

    def feature_names(self) -> list[str]:
        """Features described by a ``<feature>.meta.json``, sorted."""
        tail = ".meta.json"
        return sorted(p.name[: -len(tail)] for p in self.path.glob(f"*{tail}") if not p.name.startswith("."))

    def write_feature(
        self,
        name: str,
        arrays: Mapping[str, np.ndarray],
        *,
        fps: float,
        columns: Sequence[str],
        settings: dict | None = None,
        kind: str,
        scale: bool | None = None,
        train: Iterable[str] | None = None,
    ) -> list[str]:
        """Write every sequence's array of a feature, its meta and (when scaled) its scaler; returns file names.

        ``scale=True`` fits a scaler on the train sequences (``train``, default the train split)
        and writes scaled arrays; ``None`` writes raw arrays that ``motionlab extract scale`` may
        standardise later (an old scaler of the feature is marked stale, so generation refuses it
        and ``extract scale`` refits); ``False`` raw arrays that must never be scaled (token ids;
        an old scaler is removed). Raw arrays get ``scaled: false`` in the meta.
        """
        if not arrays:
            raise MotionlabError(f"{self.path}: no sequences to write for feature '{name}'")
        columns = [str(c) for c in columns]
        clean = {check_seq_id(seq, f"feature '{name}'"): self._checked(seq, name, a, len(columns)) for seq, a in arrays.items()}
        settings = dict(settings or {})
        if scale:
            self.path.mkdir(parents=True, exist_ok=True)
            written = self._write_scaled(name, clean, self.split("train") if train is None else list(train))
        else:
            if scale is False:  # never to be scaled: a scaler of an earlier version has no meaning
                self._drop_scaler(name)
                settings["scalable"] = False
            written = [self.write_array(seq, name, a).name for seq, a in clean.items()]
        settings["scaled"] = bool(scale)
        self.write_meta(name, fps, columns, settings, kind=kind)
        return written + [self.meta_path(name).name]

    def _checked(self, seq: str, feature: str, a, dims: int | None = None) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.float32)
        if a.ndim != 2 or (dims is not None and a.shape[1] != dims):
            want = f"(frames, {dims}) array for {dims} columns" if dims is not None else "rank-2 (frames, features) array"
            raise MotionlabError(f"{self.feature_path(seq, feature)}: expected a {want}, found shape {a.shape}")
        return a

    def write_array(self, seq: str, feature: str, array: np.ndarray) -> Path:
        """Write one raw (unscaled) float32 array. The feature's scaler, if any, is marked stale (it
        no longer describes the arrays): generation refuses it until ``motionlab extract scale``
        refits. For writers that stream sequences; follow with :meth:`write_meta`."""
        seq = check_seq_id(seq, f"feature '{feature}'")
        a = self._checked(seq, feature, array)
        self._invalidate_scaler(feature)
        path = self.feature_path(seq, feature)
        save_npy(path, a)
        return path

    # ------------------------------------------------------------------ meta

    def meta(self, feature: str) -> dict:
        """The checked contents of ``<feature>.meta.json`` (cached)."""
        if feature not in self._meta:
            path = self.meta_path(feature)
            meta = read_json(path)
            if not isinstance(meta, dict):
                raise MotionlabError(f"{path}: expected a JSON object with keys {list(META_KEYS)}, found {type(meta).__name__}")
            missing = [k for k in META_KEYS if k not in meta]
            if missing:
                raise MotionlabError(f"{path}: expected keys {list(META_KEYS)}, missing {missing}")
            cols = meta["columns"]
            if not isinstance(cols, list) or len(cols) != meta["dims"]:
                n = len(cols) if hasattr(cols, "__len__") else "?"
                raise MotionlabError(f"{path}: expected 'columns' to be a list of length dims={meta['dims']}, found {type(cols).__name__} of length {n}")
            try:
                fps = float(meta["fps"])
            except (TypeError, ValueError):
                fps = -1.0
            if not fps > 0:
                raise MotionlabError(f"{path}: expected a positive 'fps', found {meta['fps']!r}")
            if not isinstance(meta["settings"], dict):
                raise MotionlabError(f"{path}: expected 'settings' to be a JSON object, found {type(meta['settings']).__name__}")
            self._meta[feature] = meta
        return self._meta[feature]

    def write_meta(self, feature: str, fps: float, columns: Sequence[str], settings: dict | None = None, *, kind: str) -> Path:
        """Write ``<feature>.meta.json``. ``kind`` (audio, motion, keypoints, text, demo) tells generation
        how to use the feature; ``settings`` (JSON) lets the same extraction be repeated on new inputs."""
        columns = [str(c) for c in columns]
        try:
            fps_tag(fps)
        except MotionlabError as e:
            raise MotionlabError(f"{self.meta_path(feature)}: {e}") from None
        meta = {"feature": str(feature), "fps": float(fps), "dims": len(columns), "columns": columns, "settings": dict(settings or {}), "kind": str(kind)}
        path = self.meta_path(feature)
        write_json(path, meta)
        self._meta.pop(feature, None)
        self._scalers.pop(feature, None)
        return path

    # ------------------------------------------------------------------ scalers

    def _write_scaled(self, name: str, arrays: dict[str, np.ndarray], train: Sequence[str]) -> list[str]:
        """Fit on the train sequences among ``arrays`` (all of them when none is train), write scaled arrays, then the scaler with its record."""
        from motionlab.feature_extraction.scalers import StandardScaler

        fit_ids = [q for q in train if q in arrays] or list(arrays)
        scaler = StandardScaler.fit(arrays[q] for q in fit_ids)
        self._drop_scaler(name)  # while arrays change, no scaler claims them
        self._invalidated.discard(name)
        sums = {}
        for seq, a in arrays.items():
            scaled = scaler.transform(a)
            save_npy(self.feature_path(seq, name), scaled)
            sums[seq] = array_checksum(scaled)
        self._save_scaler(name, scaler, fit_ids, sums)
        return [self.scaler_path(name).name] + [self.feature_path(seq, name).name for seq in arrays]

    def _save_scaler(self, feature: str, scaler, fit_ids: Sequence[str], checksums: Mapping[str, str], stale: str = "") -> None:
        """mean/scale plus the fit record: train ids fitted on, the checksum of every array scaled,
        and ``stale``: why it no longer applies (empty while it does)."""
        save_npz(
            self.scaler_path(feature),
            format=np.array(SCALER_FORMAT), version=np.array(SCALER_VERSION),
            mean=scaler.mean, scale=scaler.scale,
            fit_sequences=np.array(list(fit_ids), dtype=str),
            sequences=np.array(list(checksums), dtype=str), checksums=np.array(list(checksums.values()), dtype=str),
            stale=np.array(stale),
        )
        self._scalers.pop(feature, None)

    def _invalidate_scaler(self, feature: str) -> None:
        """Keep the scaler file but empty its record, saying why: raw arrays replace what it scaled."""
        if feature in self._invalidated or not self.scaler_path(feature).exists():
            return
        from motionlab.feature_extraction.scalers import StandardScaler

        old = StandardScaler.load(self.scaler_path(feature))
        self._save_scaler(feature, old, [], {}, stale="raw arrays were written over the arrays it scaled")
        self._invalidated.add(feature)

    def _drop_scaler(self, feature: str) -> None:
        self.scaler_path(feature).unlink(missing_ok=True)
        self._scalers.pop(feature, None)

    def feature_checksums(self, feature: str, sequences: Iterable[str]) -> dict[str, str]:
        """Sequence id -> :func:`array_checksum` of its ``feature`` array on disk: the fit record of
        anything fitted on the arrays (scalers, pose clusters), compared later to detect other data."""
        return {q: array_checksum(self.open_feature(q, feature, check_finite=False)) for q in sequences}

    def record_mismatch(self, feature: str, record: Mapping[str, str], sequences: Sequence[str]) -> str:
        """Why a fit record does not describe ``sequences``' arrays of ``feature`` ('' when it does)."""
        missing = [q for q in sequences if q not in record]
        if missing:
            return f"it was not fitted on {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        gone = [q for q in record if q not in sequences]
        if gone:
            return f"it was fitted on sequences no longer in the split ({', '.join(gone[:3])}{' ...' if len(gone) > 3 else ''})"
        for q in sequences:
            path = self.feature_path(q, feature)
            if not path.exists():
                return f"{path.name} is missing"
            if array_checksum(np.load(path, mmap_mode="r", allow_pickle=False)) != record[q]:
                return f"{path.name} changed after it was fitted"
        return ""

    def scaler_record(self, feature: str) -> dict[str, str] | None:
        """Sequence id -> checksum of the scaled arrays the scaler was applied to (None: no record)."""
        path = self.scaler_path(feature)
        try:
            with np.load(path, allow_pickle=False) as z:
                if "sequences" not in z.files or "checksums" not in z.files:
                    return None
                return dict(zip((str(s) for s in z["sequences"]), (str(c) for c in z["checksums"])))
        except FileNotFoundError:
            return None
        except NPY_ERRORS as e:
            raise MotionlabError(f"{path}: not a motionlab scaler (expected an .npz with 'mean', 'scale' and a fit record): {e}") from None

    def _scalable_sequences(self, feature: str) -> list[str]:
        """Sequences whose ``feature`` array a scaler must cover: those of the splits (all on disk without splits)."""
        on_disk = self.feature_sequences(feature)
        if not self.has_splits():
            return on_disk
        listed = set(self.sequences())
        return [q for q in on_disk if q in listed]

    def scaler_state(self, feature: str) -> str:
        """``none`` (no scaler file), ``current`` (its record matches the arrays on disk) or ``stale: why``.

        Arrays outside the splits are ignored; every listed array must be one the scaler wrote,
        unchanged (same checksum).
        """
        if not self.scaler_path(feature).exists():
            return "none"
        record = self.scaler_record(feature)
        if record is None:
            return "stale: it records no arrays it was applied to (written by an older motionlab)"
        try:
            with np.load(self.scaler_path(feature), allow_pickle=False) as z:
                reason = str(z["stale"]) if "stale" in z.files else ""
        except NPY_ERRORS as e:
            raise MotionlabError(f"{self.scaler_path(feature)}: not a motionlab scaler: {e}") from None
        if reason:
            return f"stale: {reason}"
        unscaled = [q for q in self._scalable_sequences(feature) if q not in record]
        if unscaled:
            return f"stale: it was never applied to {', '.join(self.feature_path(q, feature).name for q in unscaled[:3])}"
        for seq, checksum in record.items():
            path = self.feature_path(seq, feature)
            if path.exists() and array_checksum(self.open_feature(seq, feature, check_finite=False)) != checksum:
                return f"stale: {path.name} changed after it was scaled"
        return "current"

    def scaler(self, feature: str):
        """The feature's ``StandardScaler``, or None when it is unscaled (cached).

        Refuses a scaler whose fit record does not match the arrays on disk: inverting a scaler
        fitted on other data would silently give wrong units.
        """
        if feature not in self._scalers:
            from motionlab.feature_extraction.scalers import StandardScaler

            state = self.scaler_state(feature)
            if state.startswith("stale"):
                raise MotionlabError(f"{self.scaler_path(feature)}: {state}; {RESCALE_HINT.format(dir=self.path)} to fit it to the arrays on disk")
            self._scalers[feature] = StandardScaler.load(self.scaler_path(feature)) if state == "current" else None
        return self._scalers[feature]

    def scale_feature(self, feature: str) -> str:
        """Standardise one feature's arrays in place unless a matching scaler already did; returns what was done.

        Fits on the train split, so importers' raw arrays become what prepare writes. Token ids
        (``scalable: false`` or word sources) are left alone. A scaler whose record does not match
        the arrays (they were rewritten raw) is refitted, never trusted.
        """
        meta = self.meta(feature)
        settings = meta["settings"]
        if settings.get("scalable") is False or settings.get("source") == "words":
            return "token ids: not scaled"
        state = self.scaler_state(feature)
        if state == "current":
            return "already scaled"
        seqs = self._scalable_sequences(feature)
        if not seqs:
            raise MotionlabError(f"{self.path}: no '{feature}' arrays ({'<seq>.' + feature + '.npy'}) of the split sequences to scale")
        if state.startswith("stale") and self.scaler_record(feature) is None and settings.get("scaled"):
            # An older motionlab scaled these arrays (the meta says so) but recorded nothing: adopt its scaler.
            from motionlab.feature_extraction.scalers import StandardScaler

            old = StandardScaler.load(self.scaler_path(feature))
            self._save_scaler(feature, old, [], {q: array_checksum(self.open_feature(q, feature)) for q in seqs})
            return "already scaled (its older scaler now records the arrays)"
        arrays = {q: np.array(self.open_feature(q, feature), dtype=np.float32) for q in seqs}
        self._write_scaled(feature, arrays, self.split("train"))
        self.write_meta(feature, meta["fps"], meta["columns"], {**settings, "scaled": True}, kind=meta["kind"])
        what = "scaled" if state == "none" else "rescaled (its old scaler did not match the arrays)"
        return f"{what} ({len(arrays)} sequences)"

    def train_mean(self, feature: str) -> np.ndarray:
        """(D,) mean frame of the train split in the data's units (the scaler's mean when the feature is standardised)."""
        scaler = self.scaler(feature)
        if scaler is not None:
            return np.asarray(scaler.mean, dtype=np.float32)
        total, n = None, 0
        for q in self.split("train"):
            a = np.asarray(self.open_feature(q, feature), dtype=np.float64)
            total = a.sum(0) if total is None else total + a.sum(0)
            n += len(a)
        if not n:
            raise MotionlabError(f"{self.path}: no train frames of '{feature}' to take a mean from")
        return (total / n).astype(np.float32)

    # ------------------------------------------------------------------ motion pipeline

    def pipeline(self, feature: str):
        """The fitted ``MotionPipeline`` of a BVH motion feature (cached)."""
        if feature not in self._pipelines:
            from motionlab.feature_extraction.motion import MotionPipeline

            meta = self.meta(feature) if self.meta_path(feature).exists() else None
            if meta is None:
                raise MotionlabError(f"{self.meta_path(feature)}: missing; BVH/video output needs to know how '{feature}' was made (prepare the data with `motionlab prepare`)")
            name = meta["settings"].get("pipeline")
            if meta["kind"] != "motion" or not name:
                raise MotionlabError(f"{self.meta_path(feature)}: '{feature}' is not a BVH motion feature (kind {meta['kind']!r}, no 'pipeline' setting); BVH output needs one")
            self._pipelines[feature] = MotionPipeline.load(self.path / name)
        return self._pipelines[feature]

    # ------------------------------------------------------------------ speakers

    def speakers(self) -> dict[str, str]:
        """Sequence id -> speaker/style label from ``speakers.json`` ({} when there is none)."""
        path = self.path / SPEAKERS
        if not path.exists():
            return {}
        labels = read_json(path)
        if not isinstance(labels, dict) or not all(isinstance(v, (str, int)) for v in labels.values()):
            raise MotionlabError(f"{path}: expected a JSON object mapping sequence id -> speaker label (string), found {type(labels).__name__}")
        return {str(k): str(v) for k, v in labels.items()}

    def write_speakers(self, speakers: Mapping[str, str]) -> None:
        labels = {check_seq_id(s, str(self.path / SPEAKERS)): str(v) for s, v in speakers.items()}
        write_json(self.path / SPEAKERS, labels)

    # ------------------------------------------------------------------ prepare manifest, audio

    def manifest(self) -> dict | None:
        """Contents of ``prepare.json`` (None when the folder was not made by ``motionlab prepare``)."""
        path = self.path / MANIFEST
        if not path.exists():
            return None
        m = read_json(path)
        if not isinstance(m, dict):
            raise MotionlabError(f"{path}: expected a JSON object written by `motionlab prepare`, found {type(m).__name__}")
        return m

    def sequence_info(self, seq: str) -> dict:
        """What ``prepare`` recorded about a sequence (split, take, audio, start pose), or {}."""
        return ((self.manifest() or {}).get("sequences") or {}).get(seq, {})

    def audio_for(self, seq: str) -> tuple[Path | None, float]:
        """The audio file of a sequence and the time in it (seconds) where the sequence starts."""
        info = self.sequence_info(seq)
        if info.get("audio") and Path(info["audio"]).exists():
            return Path(info["audio"]), float(info.get("audio_start", 0.0))
        for ext in AUDIO_EXTENSIONS:
            p = self.path / f"{seq}{ext}"
            if p.exists():
                return p, 0.0
        return None, 0.0
