"""Long fuzzing of every parser and loader the suite fuzzes briefly (issue 13), with the suite's strategies
(tests/test_parser_mutations.py: BVH, word timings, TextGrid; tests/test_fuzz_parsers.py: hparams YAML, option
coercion, feature arrays, meta.json, scaler files).

    MOTIONLAB_REAL_DATA=/work/shared/data/real OMP_NUM_THREADS=1 python benchmarks/fuzz.py [--minutes 10] [--targets bvh,hparams]

The time is shared equally by the targets. Prints JSON: per target the cases run, the crashes (anything
but MotionlabError, or a MotionlabError whose message names neither the file nor the option) and up to
five crash examples. Exits 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import yaml  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import test_fuzz_parsers as fp  # noqa: E402
import test_parser_mutations as pm  # noqa: E402
from motionlab.datafolder import DataFolder  # noqa: E402
from motionlab.feature_extraction import text as text_module  # noqa: E402
from motionlab.feature_extraction.bvh import load_bvh  # noqa: E402
from motionlab.training.options import parse_options  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402


class Crash(Exception):
    """A MotionlabError whose message does not say which file or option it is about."""


def expect(fn, *names):
    try:
        fn()
    except MotionlabError as e:
        if not any(n in str(e) for n in names):
            raise Crash(f"message names none of {names}: {e}") from None


def targets(work: Path, good: Path) -> dict:
    """name -> (strategy, check(example)): each check raises on a crash."""
    def text_file(name, reader):
        def check(text):
            p = work / name
            p.write_text(text)
            expect(lambda: reader(p), str(p))
        return check

    def hparams(text):
        p = work / "h.yaml"
        p.write_text(text)
        expect(lambda: parse_options(["--hparams_file", str(p), "--data_dir", str(work)]), str(p), "option", "--", "model", "dataset", "base", "hparams file")

    def typed_option(case):
        key, value = case
        p = work / "t.yaml"
        p.write_text(yaml.safe_dump({"base": "demo", key: value}))
        expect(lambda: parse_options(["--hparams_file", str(p), "--data_dir", str(work)]), key)

    originals = {name: (good / name).read_bytes() for name in ("demo_00.demo_motion.npy", "demo_motion.meta.json", "demo_motion.scaler.npz")}

    def restore():
        for name, data in originals.items():
            (good / name).write_bytes(data)

    def feature_array(data):
        restore()
        p = good / "demo_00.demo_motion.npy"
        p.write_bytes(data)
        expect(lambda: DataFolder(good).load_sequence("demo_00", ["demo_audio", "demo_motion"]), str(p))

    def meta_json(data):
        restore()
        p = good / "demo_motion.meta.json"
        p.write_bytes(data)
        expect(lambda: DataFolder(good).meta("demo_motion"), str(p))

    def scaler(data):
        restore()
        p = good / "demo_motion.scaler.npz"
        p.write_bytes(data)
        df = DataFolder(good)
        expect(lambda: (df.scaler_state("demo_motion"), df.scaler("demo_motion")), str(p))

    scaler_bytes = originals["demo_motion.scaler.npz"]
    damaged_scalers = st.builds(lambda cut, i, b: bytes(bytearray(scaler_bytes[:cut]) if i is None else scaler_bytes[:i] + bytes([b]) + scaler_bytes[i + 1:]),
                                st.integers(0, len(scaler_bytes)), st.none() | st.integers(0, len(scaler_bytes) - 1), st.integers(0, 255))
    meta_texts = st.builds(lambda m, cut: json.dumps(m)[: cut].encode(), st.dictionaries(st.sampled_from(["feature", "fps", "dims", "columns", "settings", "kind"]), fp.yaml_values, max_size=6),
                           st.integers(0, 400))
    found = {
        "bvh": (pm.mutated(pm.SOURCES), text_file("case.bvh", load_bvh)),
        "word_timings": (pm.mutated([pm.WORDS]), text_file("case.words.csv", text_module.read_word_timings)),
        "hparams_yaml": (fp.hparams_files(), hparams),
        "typed_option": (st.tuples(st.sampled_from(["batch_size", "max_epochs", "lr", "window_hop", "dhid", "dropout", "input_modalities", "check_finite", "model"]), fp.yaml_values), typed_option),
        "feature_array": (fp.npy_files(), feature_array),
        "meta_json": (meta_texts, meta_json),
        "scaler": (damaged_scalers, scaler),
        "textgrid": (pm.mutated([pm.TEXTGRID]), text_file("case.TextGrid", text_module.read_textgrid_words)),
    }
    return found


def fuzz(strategy, check, seconds: float) -> dict:
    stats = {"cases": 0, "crashes": 0, "examples": []}
    end = time.time() + seconds

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(example=strategy)
    def run(example):
        if time.time() > end:
            return
        stats["cases"] += 1
        try:
            check(example)
        except Exception as e:  # noqa: BLE001 - a crash to count and show, not to stop on
            stats["crashes"] += 1
            if len(stats["examples"]) < 5:
                stats["examples"].append({"input": repr(example)[:300], "error": (str(e) if isinstance(e, Crash) else traceback.format_exc(limit=3))[-600:]})

    while time.time() < end:  # batches of fresh random cases until the time is up
        run()
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="total time, shared equally by the targets")
    p.add_argument("--targets", default="", help="comma-separated subset (default: all)")
    args = p.parse_args(argv)
    from motionlab.datasets.demo_data import make_demo_data

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        good = make_demo_data(work / "data", n_sequences=4, seconds=2.0)
        all_targets = targets(work, good)
        chosen = [t for t in args.targets.split(",") if t] or list(all_targets)
        unknown = sorted(set(chosen) - set(all_targets))
        if unknown:
            p.error(f"unknown targets {unknown}; known: {sorted(all_targets)}")
        each = args.minutes * 60 / len(chosen)
        started = time.time()
        out = {name: fuzz(*all_targets[name], each) for name in chosen}
        shutil.rmtree(good, ignore_errors=True)
    report = {"minutes": round((time.time() - started) / 60, 2), "real_data": bool(pm.os.environ.get("MOTIONLAB_REAL_DATA")),
              "total_cases": sum(s["cases"] for s in out.values()), "total_crashes": sum(s["crashes"] for s in out.values()), "targets": out}
    json.dump(report, sys.stdout, indent=1)
    print()
    return 1 if report["total_crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
