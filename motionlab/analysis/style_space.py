"""The learned style space of a style-conditioned model: ``style_codes`` of real motion windows, projected
to 2-D (PCA, or t-SNE) and coloured by speaker, plus how well the speakers separate in it (silhouette).

Mix-StAGE's pose style encoder maps a motion window to a style vector; if training taught it the
speakers, the windows of one speaker gather together. Windows are the model's own output length, cut
from the scaled ground truth of the evaluated split every half window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionlab.analysis.feature_networks import cut_windows
from motionlab.utils.errors import MotionlabError

METHODS = ("pca", "tsne")


def window_codes(model, sequences: dict[str, np.ndarray], labels: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """(N, E) style codes of every labelled sequence's windows (scaled features) and the label of each window."""
    spec = getattr(model, "generation_spec", None) or model.spec
    L = int(spec.output_lengths[0])
    param = next(model.parameters())
    codes, names = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for q, feats in sequences.items():
                if q not in labels or len(feats) < L:
                    continue
                w = torch.as_tensor(cut_windows(feats, L, max(1, L // 2)), dtype=param.dtype, device=param.device)
                codes.append(model.style_codes(w).float().cpu().numpy())
                names += [labels[q]] * len(w)
    finally:
        model.train(was_training)
    if not codes:
        raise MotionlabError(f"style space: no labelled sequence is as long as one {L}-frame window")
    return np.concatenate(codes).reshape(len(names), -1), names


def project(codes: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) projection of the codes: PCA (deterministic) or t-SNE (seeded; perplexity below N)."""
    if method not in METHODS:
        raise MotionlabError(f"--style_space: expected one of {list(METHODS)}, got {method!r}")
    x = np.asarray(codes, np.float64)
    if x.shape[1] < 2:
        return np.concatenate([x, np.zeros((len(x), 2 - x.shape[1]))], 1)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, random_state=seed, init="pca", perplexity=float(min(30, max(2, (len(x) - 1) // 3)))).fit_transform(x)


def separation(codes: np.ndarray, names: list[str]) -> float | None:
    """Silhouette score of the speakers in the full style space (-1..1; None with fewer than 2 speakers)."""
    from sklearn.metrics import silhouette_score

    if len(set(names)) < 2 or len(names) <= len(set(names)):
        return None
    return float(silhouette_score(np.asarray(codes, np.float64), names))


def plot_style_space(path: Path, points: np.ndarray, names: list[str], method: str, title: str) -> Path:
    from motionlab.analysis.report import _save_figure
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label in sorted(set(names)):
        m = np.array([n == label for n in names])
        ax.scatter(points[m, 0], points[m, 1], s=10, alpha=0.7, label=label)
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, markerscale=1.5)
    return _save_figure(fig, path)


def style_space(model, sequences: dict[str, np.ndarray], labels: dict[str, str], out_path: Path, method: str = "pca", seed: int = 0) -> tuple[Path, float | None]:
    """Write the style-space plot of the model's ``style_codes``; returns (plot, silhouette of the speakers)."""
    codes, names = window_codes(model, sequences, labels)
    score = separation(codes, names)
    title = f"style space ({len(names)} windows, {len(set(names))} speakers" + (f", silhouette {score:.2f})" if score is not None else ")")
    return plot_style_space(Path(out_path), project(codes, method, seed), names, method, title), score
