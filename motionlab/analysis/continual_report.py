"""The report of a continual run: each metric per stage and style, accuracy and forgetting, over seeds.

- **accuracy** of a metric: its mean over every style after the last stage;
- **forgetting**: the mean, over every style but the newest, of how far its last value fell from its
  best value at any stage since it was learned (best − last when higher is better, last − best when
  lower is better; 0 = nothing forgotten).
Both are computed per seed and reported as mean and spread (standard deviation) over the seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.utils.io import write_json, write_text


def _stat(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(len(v))}


def accuracy_and_forgetting(per_stage: list[dict], styles: list[str], metric: str, higher_is_better: bool) -> tuple[float | None, float | None]:
    """One seed's (accuracy, forgetting) of ``metric`` from its stages' {style: {metric: value}}."""
    if not per_stage:
        return None, None
    last = per_stage[-1]
    finals = [last.get(s, {}).get(metric) for s in styles]
    finals = [v for v in finals if v is not None]
    accuracy = float(np.mean(finals)) if finals else None
    drops = []
    for j, style in enumerate(styles[:-1]):
        history = [stage.get(style, {}).get(metric) for stage in per_stage[j:]]
        history = [v for v in history if v is not None]
        if len(history) >= 2:
            best = max(history) if higher_is_better else min(history)
            drops.append(best - history[-1] if higher_is_better else history[-1] - best)
    return accuracy, (float(np.mean(drops)) if drops else None)


def build(results: dict, styles: list[str], metrics: dict, settings: dict | None = None) -> dict:
    """``results`` = {seed: [stage record with 'metrics': {style: {metric: value}}]} -> the report dict."""
    seeds = list(results)
    report = {"settings": settings or {}, "styles": list(styles), "seeds": seeds, "metrics": {}}
    for metric, higher in metrics.items():
        per_seed = {seed: [rec.get("metrics", {}) for rec in results[seed]] for seed in seeds}
        if not any(metric in m for stages in per_seed.values() for stage in stages for m in stage.values()):
            continue
        table = {}
        for style in styles:
            row = {}
            for i in range(len(styles)):
                vals = [stages[i].get(style, {}).get(metric) for stages in per_seed.values() if i < len(stages)]
                if any(v is not None for v in vals):
                    row[str(i + 1)] = _stat(vals)
            table[style] = row
        acc, forg = zip(*(accuracy_and_forgetting(per_seed[s], styles[: len(per_seed[s])], metric, higher) for s in seeds))
        report["metrics"][metric] = {
            "higher_is_better": higher,
            "table": table,
            "accuracy": {**_stat(acc), "per_seed": dict(zip(map(str, seeds), acc))},
            "forgetting": {**_stat(forg), "per_seed": dict(zip(map(str, seeds), forg))},
        }
    return report


def _fmt(stat: dict) -> str:
    if stat.get("mean") is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat["n"] > 1 else f"{stat['mean']:.3f}"


def summary(report: dict) -> str:
    """Markdown: per metric, a style × stage table, then accuracy and forgetting."""
    styles = report["styles"]
    s = report.get("settings", {})
    lines = [f"# Continual run: {s.get('method', '?')}, k = {s.get('k_shot', '?')}, styles {' → '.join(styles)}, seeds {', '.join(map(str, report['seeds']))}", ""]
    for metric, m in report["metrics"].items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        lines += [f"## {metric} {arrow}", "", "| style | " + " | ".join(f"after stage {i + 1}" for i in range(len(styles))) + " |", "|---|" + "---|" * len(styles)]
        for style in styles:
            row = m["table"].get(style, {})
            lines.append(f"| {style} | " + " | ".join(_fmt(row[str(i + 1)]) if str(i + 1) in row else "" for i in range(len(styles))) + " |")
        lines += ["", f"accuracy (mean over styles after the last stage): {_fmt(m['accuracy'])}; forgetting (best − last, mean over older styles): {_fmt(m['forgetting'])}", ""]
    return "\n".join(lines)


def plot(report: dict, path) -> Path:
    """One panel per metric: its value after each stage, one line per style (mean over seeds, spread as a band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(report["metrics"])
    styles = report["styles"]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(4 * max(1, len(metrics)), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        m = report["metrics"][metric]
        for style in styles:
            row = m["table"].get(style, {})
            xs = [int(k) for k in row if row[k]["mean"] is not None]
            if not xs:
                continue
            mean = np.array([row[str(x)]["mean"] for x in xs])
            std = np.array([row[str(x)]["std"] for x in xs])
            ax.plot(xs, mean, marker="o", label=style)
            ax.fill_between(xs, mean - std, mean + std, alpha=0.2)
        ax.set_title(f"{metric} ({'higher' if m['higher_is_better'] else 'lower'} is better)")
        ax.set_xlabel("stage")
        ax.set_xticks(range(1, len(styles) + 1))
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def write(report: dict, folder) -> list[Path]:
    folder = Path(folder)
    write_json(folder / "report.json", report)
    write_text(folder / "report.md", summary(report) + "\n")
    return [folder / "report.json", folder / "report.md", plot(report, folder / "report.png")]
