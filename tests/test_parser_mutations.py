"""Property tests (hypothesis): random mutations of real BVH files, word-timing tables and Praat TextGrids never
raise anything but MotionlabError (issue 13). ``python benchmarks/fuzz.py`` runs the same mutations longer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from motionlab.feature_extraction.bvh import load_bvh  # noqa: E402
from motionlab.feature_extraction.text import read_textgrid_words, read_word_timings  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402

SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.033333
0 90 0 0 0 0 1 2 3
1 91 0 5 0 0 1 2 3
2 92 0 10 0 0 1 2 3
"""
WORDS = "word,start,end\nhello,0.10,0.40\nworld,0.45,0.90\n"
TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.5
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.5
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.4
            text = "hello"
        intervals [2]:
            xmin = 0.4
            xmax = 0.9
            text = ""
        intervals [3]:
            xmin = 0.9
            xmax = 1.5
            text = "world"
"""
TOKENS = ["", "-", "nan", "inf", "1e999", "{", "}", "ROOT", "JOINT", "End", "CHANNELS", "99", "-3", "x", "Frames:", "0.0", ",", "\t", "é", "xmin", "=", "\"", "item", "[2]:", "size", "TextTier"]


def real_bvh_texts() -> list[str]:
    """The header and first frames of every real BVH (MOTIONLAB_REAL_DATA), else the small one above."""
    root = os.environ.get("MOTIONLAB_REAL_DATA")
    texts = []
    if root:
        for p in sorted(Path(root).rglob("*.bvh"))[:6]:
            lines = p.read_text(errors="replace").splitlines()
            cut = next((i for i, line in enumerate(lines) if line.strip().startswith("Frame Time")), len(lines) - 1)
            texts.append("\n".join(lines[: cut + 6]) + "\n")
        assert texts, f"MOTIONLAB_REAL_DATA={root}: no .bvh files found"
    return texts or [SMALL_BVH]


SOURCES = real_bvh_texts()


@st.composite
def mutated(draw, sources):
    text = draw(st.sampled_from(sources))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "token", "truncate", "swap"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "token":
            words = lines[i].split() or [""]
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS) | st.text(max_size=6))
            lines[i] = " ".join(words)
        elif kind == "truncate":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def only_motionlab_errors(fn, path):
    try:
        fn(path)
    except MotionlabError as e:
        assert str(path) in str(e), e  # the message names the file
    # anything else propagates and fails the property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=mutated(SOURCES))
def test_mutated_bvh_raises_only_motionlab_errors(tmp_path, text):
    path = tmp_path / "m.bvh"
    path.write_text(text)
    only_motionlab_errors(load_bvh, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated([WORDS]))
def test_mutated_word_timings_raise_only_motionlab_errors(tmp_path, text):
    path = tmp_path / "t.words.csv"
    path.write_text(text)
    only_motionlab_errors(read_word_timings, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=mutated([TEXTGRID]))
def test_mutated_textgrids_raise_only_motionlab_errors(tmp_path, text):
    path = tmp_path / "t.TextGrid"
    path.write_text(text)
    only_motionlab_errors(read_textgrid_words, path)
