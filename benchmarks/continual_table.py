"""One table of continual runs: accuracy and forgetting (mean ± spread over seeds) per method and k.

    python benchmarks/continual_table.py EXP/continual_*/report.json [--metrics pck@0.2,fid_pose_normalised,style_accuracy] [--json out.json]
Prints markdown; --json writes the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cell(stat: dict) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("n", 1) > 1 else f"{stat['mean']:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+")
    p.add_argument("--metrics", default="pck@0.2,fid_pose_normalised,l1,style_accuracy")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    metrics = [m for m in args.metrics.split(",") if m]
    rows, out = [], []
    for path in args.reports:
        r = json.loads(Path(path).read_text())
        s = r["settings"]
        entry = {"method": s["method"], "k_shot": s["k_shot"], "seeds": r["seeds"], "styles": r["styles"]}
        for m in metrics:
            if m in r["metrics"]:
                entry[m] = {"higher_is_better": r["metrics"][m]["higher_is_better"], "accuracy": r["metrics"][m]["accuracy"], "forgetting": r["metrics"][m]["forgetting"]}
        out.append(entry)
    out.sort(key=lambda e: (e["k_shot"], e["method"]))
    head = "| method | k | " + " | ".join(f"{m} {'↑' if out and out[0].get(m, {}).get('higher_is_better', True) else '↓'} accuracy | {m} forgetting ↓" for m in metrics) + " |"
    rows = [head, "|---|---|" + "---|---|" * len(metrics)]
    for e in out:
        rows.append(f"| {e['method']} | {e['k_shot']} | " + " | ".join(f"{cell(e.get(m, {}).get('accuracy'))} | {cell(e.get(m, {}).get('forgetting'))}" for m in metrics) + " |")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
