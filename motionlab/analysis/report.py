"""What ``motionlab evaluate`` writes: ``metrics.json``, ``report.md`` (one table, arrows saying
which way is better, the command that made it) and PNG plots, all written atomically."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from motionlab.utils.io import atomic_path, write_json, write_text

# metric key -> (better: "lower" | "higher" | "closer to 1" | "closer to ground truth", description with unit)
METRIC_INFO: dict[str, tuple[str, str]] = {
    "l1": ("lower", "L1 to the ground truth, scaled features"),
    "mse": ("lower", "MSE to the ground truth, scaled features"),
    "mpjpe": ("lower", "mean per-joint position error (data units)"),
    "pck@0.1": ("higher", "PCK, threshold 0.1 x bounding box"),
    "pck@0.2": ("higher", "PCK, threshold 0.2 x bounding box"),
    "fid_pose": ("lower", "Fréchet distance of per-frame poses"),
    "fid_pose_normalised": ("lower", "Fréchet distance of z-normalised poses (Mix-StAGE FID)"),
    "fgd": ("lower", "Fréchet gesture distance (autoencoder latents)"),
    "ftd": ("lower", "Fréchet template distance (pose2pose VAE μ, SDT)"),
    "fid_kinetic": ("lower", "Fréchet distance of kinetic features"),
    "speed_w1": ("lower", "Wasserstein-1 of speed histograms (units/s)"),
    "acceleration_w1": ("lower", "Wasserstein-1 of acceleration histograms (units/s²)"),
    "speed_hellinger": ("lower", "Hellinger distance of speed histograms"),
    "spatial_norm": ("lower", "spatialNorm (|motion extent − ground truth's|, relative)"),
    "diversity": ("closer to ground truth", "mean pairwise distance between clips"),
    "sample_diversity": ("higher", "mean pairwise distance between samples of one input"),
    "speed_ratio": ("closer to 1", "mean joint speed / ground truth's"),
    "acceleration_ratio": ("closer to 1", "mean joint acceleration / ground truth's"),
    "jerk_ratio": ("closer to 1", "mean joint jerk / ground truth's"),
    "cluster_f1": ("higher", "F1 of k-means pose-cluster labels"),
    "bone_length_error": ("lower", "bone-length error, relative to the ground truth's mean lengths (keypoints)"),
    "bas_music_beats": ("higher", "beat alignment, averaged over music beats (Bailando)"),
    "bas_motion_beats": ("higher", "beat alignment, averaged over motion beats (AIST++/FACT)"),
    "beat_consistency": ("higher", "beat consistency: audio onsets vs motion beats (EMAGE)"),
    "pfc": ("lower", "physical foot contact (EDGE)"),
    "nll": ("lower", "test NLL, nats per dimension"),
    "style_accuracy": ("higher", "style classifier accuracy"),
    "style_f1": ("higher", "style classifier macro F1"),
    "style_inception_score": ("higher", "inception score of the style classifier"),
    "transfer_style_accuracy": ("higher", "style transfer: classifier accuracy against the TARGET style"),
    "transfer_style_f1": ("higher", "style transfer: macro F1 against the target style"),
    "transfer_style_inception_score": ("higher", "style transfer: inception score of the style classifier"),
    "style_space_silhouette": ("higher", "silhouette of the speakers in the model's learned style space (-1..1)"),
}

ARROW = {"lower": "↓", "higher": "↑", "closer to 1": "→1", "closer to ground truth": "→GT"}


def write_metrics_json(path: Path, results: dict, settings: dict) -> Path:
    write_json(path, {"settings": settings, "systems": results, "metrics": {k: {"better": v[0], "what": v[1]} for k, v in METRIC_INFO.items() if any(k in r for r in results.values())}})
    return path


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(path: Path, results: dict, settings: dict, notes: list[str], plots: list[Path]) -> Path:
    """One table (rows: metrics with their arrow; columns: systems), the command, notes and plots."""
    systems = list(results)
    keys = [k for k in METRIC_INFO if any(k in results[s] for s in systems)]
    lines = [f"# Evaluation of {settings['experiment']} on the {settings['split']} split", ""]
    lines += [f"Command: `{settings['command']}`", "", f"{settings['sequences']} sequences, {settings['frames']} frames ({settings['seconds']:.1f} s) at {settings['fps']:g} fps.", ""]
    lines.append("| metric | better | " + " | ".join(systems) + " |")
    lines.append("|---|---|" + "---|" * len(systems))
    for k in keys:
        better, what = METRIC_INFO[k]
        lines.append(f"| {k} — {what} | {ARROW[better]} | " + " | ".join(_fmt(results[s].get(k)) for s in systems) + " |")
    lines.append("")
    lines.append("Arrows: ↓ lower is better, ↑ higher is better, →1 closer to 1 is better, →GT closer to the ground truth's value is better.")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    if plots:
        lines += [""] + [f"![{p.stem}]({p.name})" for p in plots]
    write_text(path, "\n".join(lines) + "\n")
    return path


def _save_figure(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(buf.getvalue())
    return path


def plot_histograms(path: Path, values: dict[str, np.ndarray], xlabel: str, title: str, bins: int = 60) -> Path:
    """Overlaid normalised histograms, one per system (e.g. per-frame mean joint speed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values() if len(v)]) if values else np.zeros(1)
    hi = float(np.percentile(finite, 99.5)) if finite.size else 1.0
    edges = np.linspace(0, hi if hi > 0 else 1.0, bins + 1)
    for name, v in values.items():
        ax.hist(np.clip(v, 0, edges[-1]), bins=edges, density=True, histtype="step", linewidth=1.5, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save_figure(fig, path)


def plot_beat_timeline(path: Path, seq: str, fps: float, speed: dict[str, np.ndarray], audio_beats: np.ndarray, audio_onsets: np.ndarray, motion_beats: dict[str, np.ndarray], seconds: float = 10.0) -> Path:
    """The first ``seconds`` of one take: audio beats and onsets against each system's speed curve and its kinematic beats."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(speed), 1, figsize=(8, 1.6 * len(speed) + 0.6), sharex=True, squeeze=False)
    for ax, (name, sp) in zip(axes[:, 0], speed.items()):
        n = min(len(sp), int(seconds * fps))
        t = np.arange(n) / fps
        ax.plot(t, sp[:n], color="0.3", linewidth=1)
        for b in audio_onsets[audio_onsets < seconds]:
            ax.axvline(b, color="tab:orange", alpha=0.25, linewidth=0.8)
        for b in audio_beats[audio_beats < seconds]:
            ax.axvline(b, color="tab:red", alpha=0.8, linewidth=1.2)
        mb = motion_beats.get(name, np.zeros(0))
        mb = mb[mb < seconds]
        ax.plot(mb, np.interp(mb, t, sp[:n]) if n else mb, "v", color="tab:blue", markersize=5)
        ax.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("time (s): red audio beats, orange onsets, blue ▼ motion beats (speed minima or maxima: --motion_beats)")
    fig.suptitle(f"{seq}: beat timeline", fontsize=10)
    return _save_figure(fig, path)


def plot_per_joint_error(path: Path, errors: dict[str, np.ndarray], joint_names: list[str] | None) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(next(iter(errors.values())))
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * n), 3.5))
    width = 0.8 / max(1, len(errors))
    for i, (name, e) in enumerate(errors.items()):
        ax.bar(np.arange(n) + i * width, e, width=width, label=name)
    ax.set_xticks(np.arange(n) + 0.4 - width / 2)
    ax.set_xticklabels(joint_names or [str(j) for j in range(n)], rotation=90, fontsize=6)
    ax.set_ylabel("mean position error (data units)")
    ax.set_title("per-joint error")
    ax.legend(fontsize=8)
    return _save_figure(fig, path)


def load_metrics(path: Path) -> dict:
    return json.loads(Path(path).read_text())
