"""CC-NCE on the keyword demo (words trigger gestures the audio cannot tell): error on keyword frames and
elsewhere, and speeds, for the model with words and its ablations. Prints JSON.

    .venv/bin/python benchmarks/ccnce_demo.py [--out /tmp/ccnce_demo] [--epochs 12]

Each run is `./script_train.sh demo/ccnce` with the ablation's options on data/demo_keywords-like data
written to --out; the scores are on the val split, in scaled units (the mean pose scores about 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from motionlab.datasets.demo_keyword_data import keyword_l1, make_keyword_data
from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options
from motionlab.training.train import train

RUNS = {
    "words_ccnce": [],
    "words_no_contrastive": ["--contrastive", "none"],
    "words_moco": ["--contrastive", "moco", "--moco_queue", "256"],
    "words_patchnce": ["--contrastive", "patchnce"],
    "audio_only_ccnce": ["--text_encoder", "none"],
    "audio_only_no_contrastive": ["--text_encoder", "none", "--contrastive", "none"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/ccnce_demo")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--runs", default=",".join(RUNS))
    args = p.parse_args()
    out = Path(args.out)
    data = out / "data"
    if not data.exists():
        make_keyword_data(data)
    base = ["--hparams_file", "demo/ccnce", "--data_dir", str(data), "--experiments_dir", str(out / "exp"), "--no-progress_bar", "--overwrite", "--max_epochs", str(args.epochs)]
    results = {}
    for name in args.runs.split(","):
        result = train(parse_options([*base, "--experiment_name", name, *RUNS[name]]))
        ckpt = torch.load(Path(result["experiment_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
        hp = ckpt["hyper_parameters"]
        model = find_model_using_name("ccnce")(hp["opt"], DataSpec.from_dict(hp["spec"]))
        model.load_state_dict(ckpt["state_dict"])
        scores = keyword_l1(model, MultimodalDataset(parse_options(base), "val"))
        results[name] = {k: round(v, 4) for k, v in scores.items()} | {"steps": result["global_step"]}
    print(json.dumps({"epochs": args.epochs, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
