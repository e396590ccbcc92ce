"""Data-loading throughput of MultimodalDataset: windows per second and peak RSS.

A generated dataset of 2 hours at 20 fps (inputs of 80 and 3 dims, output of 67 dims, windows of
120/140 frames), iterated with 0 and 2 workers. Prints JSON.

    python benchmarks/dataloader.py [--hours 2] [--batch_size 32] [--max_batches 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motionlab.datasets.multimodal_dataset import MultimodalDataset


def make_data(folder: Path, hours: float, fps: int = 20, n_seq: int = 24) -> None:
    rng = np.random.default_rng(0)
    frames = int(hours * 3600 * fps / n_seq)
    names = [f"seq{i:03d}" for i in range(n_seq)]
    for s in names:
        for feat, d in (("audio", 80), ("beats", 3), ("motion", 67)):
            np.save(folder / f"{s}.{feat}.npy", rng.standard_normal((frames, d), dtype=np.float32))
    for split in ("train", "val", "test"):
        (folder / f"base_filenames_{split}.txt").write_text("\n".join(names) + "\n")


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_batches", type=int, default=300)
    p.add_argument("--warm_after", type=int, default=50, help="batches before the steady-state rate is timed (worker start-up excluded)")
    args = p.parse_args(argv)
    results = {"hours": args.hours, "fps": 20, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_data(folder, args.hours)
        results["generate_data_s"] = round(time.perf_counter() - t, 2)
        opt = argparse.Namespace(
            data_dir=str(folder), input_modalities=["audio", "beats", "motion"], output_modalities=["motion"],
            input_lengths=[140, 140, 120], output_lengths=[20], input_time_offsets=[0, 0, 0], output_time_offsets=[120],
            window_hop=1, fix_lengths=False, check_finite=True,
        )
        rss0 = peak_rss_mb()
        t = time.perf_counter()
        ds = MultimodalDataset(opt, "train")
        results["open_dataset_s"] = round(time.perf_counter() - t, 3)
        results["windows"] = len(ds)
        results["rss_after_open_mb"] = round(peak_rss_mb(), 1)
        for workers in (0, 2):
            loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=workers)
            n = n_warm = 0
            t = time.perf_counter()
            t_warm = None
            for i, batch in enumerate(loader):
                n += batch["outputs"][0].shape[0]
                if i == args.warm_after:  # workers started and their queues full: the steady-state rate from here
                    t_warm, n_warm = time.perf_counter(), n
                if i + 1 >= args.max_batches:
                    break
            end = time.perf_counter()
            dt = end - t
            results[f"workers_{workers}"] = {"windows_per_s": round(n / dt, 1), "windows": n, "seconds": round(dt, 2),
                                             "steady_windows_per_s": round((n - n_warm) / (end - t_warm), 1) if t_warm else None}
        results["peak_rss_mb_main"] = round(peak_rss_mb(), 1)
        results["peak_rss_mb_workers"] = round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1)
        results["rss_before_open_mb"] = round(rss0, 1)
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
