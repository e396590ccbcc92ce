"""k-means pose clusters: Mix-StAGE's generator labels and the ClusterF1 metric share one definition.

The per-frame k-means feature (spec §0) is ``[pose, velocity, speed]``: the pose (F values), its
backward difference per frame (F values, zero on a sequence's first frame) and the speed of each
joint (the norm of its velocity over the joint's ``joint_dims`` coordinates; one value per column
for features without joints). Like the original, clusters are fitted on raw poses — the data's own
units, i.e. the scaler undone — so the pose, not its small frame-to-frame velocity, dominates;
``normalize="zscore"`` standardises each column first, for features mixing units (a BVH feature's
root translation in cm beside joint angles).

Clusters of a data folder are fitted once on the train split and stored as plain arrays in
``<feature>.pose_clusters_k<K>.npz`` (centres, normalisation, settings as JSON, the train sequences
and checksums of the arrays they were fitted on, the scaler's checksum). Other data or other
settings make the file stale: :func:`load_or_fit` refits it and says why, ``motionlab extract
clusters`` (re)fits it explicitly. Labels are looked up on the fly, per window, by nearest centre.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from motionlab.datafolder import DataFolder, array_checksum
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import save_npz

log = logging.getLogger(__name__)

DEFINITION = "pose_velocity_speed"
FORMAT = "motionlab.pose_clusters"
VERSION = 1
NORMALIZE = ("none", "zscore")
MAX_FRAMES = 20000


# ----------------------------------------------------------------------------------------------
# The one feature definition, k-means and nearest-centre labels
# ----------------------------------------------------------------------------------------------

def cluster_features(frames, joint_dims: int = 1, previous=None) -> np.ndarray:
    """Per-frame k-means features ``(T, 2F + F / joint_dims)`` = [pose, velocity, per-joint speed].

    ``frames`` is ``(T, F)`` or positions ``(T, J, D)`` (then ``joint_dims = D``). ``previous``: the
    frame before the first (a window inside a sequence), so its first velocity matches the whole
    sequence's; without it the first velocity is zero, as at a sequence start.
    """
    x = np.asarray(frames, np.float64)
    if x.ndim == 3:
        joint_dims = x.shape[2]
        x = x.reshape(len(x), -1)
    if x.ndim != 2:
        raise MotionlabError(f"cluster_features: expected frames (T, F) or positions (T, J, D), got shape {x.shape}")
    if joint_dims < 1 or x.shape[1] % joint_dims:
        raise MotionlabError(f"cluster_features: {x.shape[1]} values per frame do not split into joints of {joint_dims} coordinates")
    before = x[:1] if previous is None else np.asarray(previous, np.float64).reshape(1, -1)
    velocity = np.diff(np.concatenate([before, x]), axis=0)
    speed = np.linalg.norm(velocity.reshape(len(x), -1, joint_dims), axis=2)
    return np.concatenate([x, velocity, speed], 1)


def fit_kmeans(x, k: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Centres ``(k, F)`` of k-means on ``x`` ``(N, F)`` (sklearn KMeans, seeded: the same data and seed give the same centres)."""
    from sklearn.cluster import KMeans

    x = np.asarray(x, np.float64)
    if len(x) < k:
        raise MotionlabError(f"k-means: need at least k = {k} frames, got {len(x)}")
    centres = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(x).cluster_centers_
    # A canonical order (by the first coordinate, then the next ...) so labels do not depend on sklearn's init order.
    order = np.lexsort(centres.T[::-1])
    return centres[order].astype(np.float64)


def subsample(x: np.ndarray, max_frames: int, seed: int) -> np.ndarray:
    """At most ``max_frames`` rows of ``x``, drawn without replacement with ``seed`` (k-means cost stays bounded)."""
    if max_frames and len(x) > max_frames:
        return x[np.sort(np.random.default_rng(seed).choice(len(x), max_frames, replace=False))]
    return x


def nearest(x, centres) -> np.ndarray:
    """int64 label of the nearest centre (Euclidean) for each row of ``x``."""
    x, c = np.asarray(x, np.float64), np.asarray(centres, np.float64)
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
    return d.argmin(1).astype(np.int64)


def fit_sequence_clusters(sequences, k: int, seed: int = 0, joint_dims: int = 1, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Centres of :func:`cluster_features` over several sequences (each its own velocities), unnormalised."""
    x = np.concatenate([cluster_features(s, joint_dims) for s in sequences])
    return fit_kmeans(subsample(x, max_frames, seed), k, seed)


# ----------------------------------------------------------------------------------------------
# Stored clusters of a data folder
# ----------------------------------------------------------------------------------------------

def joint_dims_of(folder: DataFolder, feature: str) -> int:
    """Coordinates per joint: the keypoints' ``dims`` setting, else 1 (each column its own 'joint')."""
    meta = folder.meta(feature)
    if meta["kind"] == "keypoints":
        d = int(meta["settings"].get("dims", 1))
        if d >= 1 and meta["dims"] % d == 0:
            return d
    return 1


def _scaler_checksum(folder: DataFolder, feature: str) -> str:
    scaler = folder.scaler(feature)
    return "" if scaler is None else array_checksum(np.concatenate([np.ravel(scaler.mean), np.ravel(scaler.scale)]).astype(np.float64))


def wanted_settings(folder: DataFolder, feature: str, k: int, seed: int = 0, normalize: str = "none", max_frames: int = MAX_FRAMES, styles=()) -> dict:
    if normalize not in NORMALIZE:
        raise MotionlabError(f"pose clusters: normalize must be one of {list(NORMALIZE)}, got {normalize!r}")
    if int(k) < 2:
        raise MotionlabError(f"pose clusters: expected k >= 2 clusters, got {k}")
    return {
        "definition": DEFINITION, "version": VERSION, "feature": feature, "k": int(k), "seed": int(seed),
        "normalize": normalize, "joint_dims": joint_dims_of(folder, feature), "max_frames": int(max_frames), "units": "raw (scaler undone)",
        **({"styles": sorted(styles)} if styles else {}),
    }


def train_sequences(folder: DataFolder, styles=()) -> list[str]:
    """The train split, or only its sequences of ``styles`` (speakers.json labels): what the clusters are fitted on."""
    train = folder.split("train")
    if not styles:
        return train
    labels = folder.speakers()
    known = sorted(set(labels.values()))
    unknown = [s for s in styles if s not in known]
    if unknown:
        raise MotionlabError(f"pose clusters: style '{unknown[0]}' is not in {folder.path / 'speakers.json'} (known: {', '.join(known) or 'none'})")
    chosen = [q for q in train if labels.get(q) in styles]
    if not chosen:
        raise MotionlabError(f"pose clusters: the train split of {folder.path} has no sequence of style(s) {', '.join(styles)}")
    return chosen


class PoseClusters:
    """Fitted centres with their normalisation: ``labels(raw_frames)`` gives per-frame cluster ids."""

    def __init__(self, centres, mean, scale, settings: dict):
        self.centres = np.asarray(centres, np.float64)
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.settings = dict(settings)
        self.k = int(self.settings["k"])
        self.joint_dims = int(self.settings["joint_dims"])

    def features(self, raw_frames, previous=None) -> np.ndarray:
        return (cluster_features(raw_frames, self.joint_dims, previous) - self.mean) / self.scale

    def labels(self, raw_frames, previous=None) -> np.ndarray:
        """(T,) int64 nearest-centre labels of raw (unscaled) frames; ``previous`` as in :func:`cluster_features`."""
        f = self.features(raw_frames, previous)
        if f.shape[1] != self.centres.shape[1]:
            raise MotionlabError(f"pose clusters of '{self.settings['feature']}': frames give {f.shape[1]} k-means features, the centres have {self.centres.shape[1]}")
        return nearest(f, self.centres)


def _raw(folder: DataFolder, feature: str, seq: str) -> np.ndarray:
    a = np.asarray(folder.open_feature(seq, feature), np.float32)
    scaler = folder.scaler(feature)
    return scaler.inverse_transform(a) if scaler is not None else a


def fit(folder: DataFolder, feature: str, k: int, seed: int = 0, normalize: str = "none", max_frames: int = MAX_FRAMES, styles=()) -> PoseClusters:
    """Fit on the train split's raw frames (of ``styles`` only, if given), write ``<feature>.pose_clusters_k<K>[_<styles>].npz``."""
    settings = wanted_settings(folder, feature, k, seed, normalize, max_frames, styles)
    train = train_sequences(folder, styles)
    x = np.concatenate([cluster_features(_raw(folder, feature, q), settings["joint_dims"]) for q in train])
    if normalize == "zscore":
        mean, scale = x.mean(0), x.std(0)
        scale = np.where(scale > 1e-8, scale, 1.0)
    else:
        mean, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    centres = fit_kmeans(subsample((x - mean) / scale, max_frames, seed), k, seed)
    sums = folder.feature_checksums(feature, train)
    save_npz(
        folder.pose_clusters_path(feature, k, styles),
        format=np.array(FORMAT), version=np.array(VERSION), centres=centres, mean=mean, scale=scale,
        settings=np.array(json.dumps(settings, sort_keys=True)),
        sequences=np.array(list(sums), dtype=str), checksums=np.array(list(sums.values()), dtype=str),
        scaler_checksum=np.array(_scaler_checksum(folder, feature)),
    )
    return PoseClusters(centres, mean, scale, settings)


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise ValueError("no 'format' = motionlab.pose_clusters")
            return {n: z[n] for n in z.files}
    except (ValueError, OSError, KeyError) as e:
        raise MotionlabError(f"{path}: not motionlab pose clusters (expected an .npz with centres, settings and a fit record): {e}") from None


def state(folder: DataFolder, feature: str, k: int, seed: int = 0, normalize: str = "none", max_frames: int = MAX_FRAMES, styles=()) -> str:
    """``none`` (no file), ``current`` (fitted with these settings on the train arrays on disk) or ``stale: why``."""
    path = folder.pose_clusters_path(feature, k, styles)
    if not path.exists():
        return "none"
    z = _read(path)
    stored = json.loads(str(z["settings"]))
    wanted = wanted_settings(folder, feature, k, seed, normalize, max_frames, styles)
    diff = [f"{key} {stored.get(key)!r} (wanted {wanted[key]!r})" for key in wanted if stored.get(key) != wanted[key]]
    if diff:
        return f"stale: fitted with other settings: {', '.join(diff)}"
    why = folder.record_mismatch(feature, dict(zip((str(s) for s in z["sequences"]), (str(c) for c in z["checksums"]))), train_sequences(folder, styles))
    if why:
        return f"stale: {why}"
    if str(z["scaler_checksum"]) != _scaler_checksum(folder, feature):
        return f"stale: the scaler of '{feature}' changed after it was fitted"
    return "current"


def load(folder: DataFolder, feature: str, k: int, styles=()) -> PoseClusters:
    z = _read(folder.pose_clusters_path(feature, k, styles))
    return PoseClusters(z["centres"], z["mean"], z["scale"], json.loads(str(z["settings"])))


def load_or_fit(folder: DataFolder, feature: str, k: int, seed: int = 0, normalize: str = "none", max_frames: int = MAX_FRAMES, styles=()) -> PoseClusters:
    """The stored clusters when current; else fitted now (first use, or stale: other data or settings), saying so."""
    st = state(folder, feature, k, seed, normalize, max_frames, styles)
    if st == "current":
        return load(folder, feature, k, styles)
    path = folder.pose_clusters_path(feature, k, styles)
    if st == "none":
        log.info("pose clusters: fitting k-means (k=%d, seed %d) on the train split of '%s' -> %s", k, seed, feature, path)
    else:
        log.warning("pose clusters: refitting %s (%s)", path, st[len("stale: "):])
    return fit(folder, feature, k, seed, normalize, max_frames, styles)


def main(argv) -> int:
    """``motionlab extract clusters DIR --k 8``: fit (or refit when stale) the pose clusters of a motion feature."""
    p = argparse.ArgumentParser(prog="motionlab extract clusters", description=main.__doc__)
    p.add_argument("dir", help="data folder")
    p.add_argument("--feature", default="", help="motion feature (default: the one keypoints/motion feature of the folder)")
    p.add_argument("--k", type=int, default=8, help="number of clusters (Mix-StAGE: 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--normalize", choices=NORMALIZE, default="none", help="none: raw units as the original; zscore: standardise each k-means column")
    p.add_argument("--max_frames", type=int, default=MAX_FRAMES, help="k-means on at most this many train frames (seeded subsample)")
    p.add_argument("--force", action="store_true", help="refit even when the stored clusters are current")
    args = p.parse_args(argv)
    folder = DataFolder(args.dir)
    feature = args.feature
    if not feature:
        motion = [f for f in folder.feature_names() if folder.meta(f)["kind"] in ("motion", "keypoints")]
        if len(motion) != 1:
            raise MotionlabError(f"{folder.path}: name the motion feature with --feature (found {motion or 'no keypoints/motion feature'})")
        feature = motion[0]
    if not folder.meta_path(feature).exists():
        raise MotionlabError(f"{folder.meta_path(feature)}: missing; --feature must name a feature of {folder.path} ({folder.feature_names()})")
    st = state(folder, feature, args.k, args.seed, args.normalize, args.max_frames)
    if st == "current" and not args.force:
        print(f"{folder.pose_clusters_path(feature, args.k)}: already current")
        return 0
    fit(folder, feature, args.k, args.seed, args.normalize, args.max_frames)
    print(f"{folder.pose_clusters_path(feature, args.k)}: {'fitted' if st == 'none' else 'refitted (' + st + ')' if st != 'current' else 'refitted (--force)'}")
    return 0
