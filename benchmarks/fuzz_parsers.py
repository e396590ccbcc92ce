"""Longer fuzzing of the BVH and word-timing parsers with the suite's mutation strategy (tests/test_parser_mutations.py).

    MOTIONLAB_REAL_DATA=/path/to/real-data python benchmarks/fuzz_parsers.py [--minutes 10]
Prints JSON: cases run and failures (anything but MotionlabError, or a message not naming the file) per parser.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, given, settings  # noqa: E402

import test_parser_mutations as t  # noqa: E402
from motionlab.feature_extraction.bvh import load_bvh  # noqa: E402
from motionlab.feature_extraction.text import read_word_timings  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402


def fuzz(name, fn, sources, seconds, folder):
    stats = {"cases": 0, "failures": 0, "examples": []}
    end = time.time() + seconds

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(text=t.mutated(sources))
    def run(text):
        if time.time() > end:
            return
        stats["cases"] += 1
        path = Path(folder) / f"case{Path(name).suffix}"
        path.write_text(text)
        try:
            fn(path)
        except MotionlabError as e:
            if str(path) not in str(e):
                stats["failures"] += 1
                stats["examples"].append(f"message without the file: {e}"[:300])
        except Exception:  # noqa: BLE001 - a failure to report, not to stop on
            stats["failures"] += 1
            if len(stats["examples"]) < 5:
                stats["examples"].append(traceback.format_exc(limit=2)[-400:])

    while time.time() < end:  # batches of 200 fresh random cases until the time is up
        run()
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    args = p.parse_args(argv)
    each = args.minutes * 60 / 2
    with tempfile.TemporaryDirectory() as d:
        out = {"minutes": args.minutes, "bvh": fuzz("x.bvh", load_bvh, t.SOURCES, each, d), "word_timings": fuzz("x.csv", read_word_timings, [t.WORDS], each, d)}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 1 if out["bvh"]["failures"] or out["word_timings"]["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
