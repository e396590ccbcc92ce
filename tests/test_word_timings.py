"""Bad word timings (issue 10): unsorted, overlapping, empty, past the end of the audio — each a clear
error naming the file, and `extract text` leaves the data folder as it was."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from motionlab import cli
from motionlab.feature_extraction.text import check_word_timings, read_word_timings
from motionlab.utils.errors import MotionlabError


def table(tmp_path, rows, name="t.words.csv"):
    path = tmp_path / name
    path.write_text("word,start,end\n" + "".join(f"{w},{s},{e}\n" for w, s, e in rows))
    return path


def test_unsorted_overlapping_and_empty_tables_are_refused_naming_the_file(tmp_path):
    with pytest.raises(MotionlabError, match=r"t.words.csv, line 3: expected words sorted by start time, found 'a' at 0.1 s after 'b' at 0.5 s"):
        read_word_timings(table(tmp_path, [("b", 0.5, 0.8), ("a", 0.1, 0.4)]))
    with pytest.raises(MotionlabError, match=r"t.words.csv: words overlap: 'a' \(0.1-0.6 s\) and 'b' \(0.4-0.8 s\)"):
        read_word_timings(table(tmp_path, [("a", 0.1, 0.6), ("b", 0.4, 0.8)]))
    with pytest.raises(MotionlabError, match="t.words.csv: expected at least one word"):
        read_word_timings(table(tmp_path, []))
    # an aligner's rounding (<= 10 ms) is clipped, not refused
    assert read_word_timings(table(tmp_path, [("a", 0.1, 0.405), ("b", 0.4, 0.8)])) == [("a", 0.1, 0.4), ("b", 0.4, 0.8)]


def test_words_past_the_audio_are_refused():
    with pytest.raises(MotionlabError, match=r"x.csv: word 'late' ends at 9.0 s, after the end of the take's audio \(5.00 s\)"):
        check_word_timings([("ok", 1.0, 2.0), ("late", 8.0, 9.0)], "x.csv", duration=5.0)
    assert check_word_timings([("ok", 1.0, 5.05)], "x.csv", duration=5.0) == [("ok", 1.0, 5.05)]


def test_extract_text_skips_a_take_with_timings_of_another_take_and_keeps_its_previous_features(tmp_path, capsys):
    from test_prepare import write_take

    for i in range(3):
        write_take(tmp_path, f"take{i}", 4, seed=i)
        table(tmp_path, [("hello", 0.5, 1.0), ("world", 1.2, 1.8)], f"take{i}.words.csv")
    assert cli.main(["extract", "text", str(tmp_path), "--fps", "20", "--no_progress"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    table(tmp_path, [("hello", 0.5, 1.0), ("world", 11.2, 11.8)], "take1.words.csv")  # a 12 s take's timings on a 4 s take
    before["take1.words.csv"] = (tmp_path / "take1.words.csv").read_bytes()
    code = cli.main(["extract", "text", str(tmp_path), "--fps", "20", "--no_progress", "--replace_existing"])
    captured = capsys.readouterr()
    err = captured.err + captured.out
    assert code == 0 and "skipped 1 takes" in err  # prepare's rule: a bad take is reported and skipped, the others done
    assert "take1.words.csv: word 'world' ends at 11.8 s, after the end of the take's audio (4.00 s)" in err and "Traceback" not in err
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k.startswith("take1")} == {k: v for k, v in before.items() if k.startswith("take1")}  # its features kept, whole


def test_a_textgrid_without_a_word_tier_names_the_tiers_it_has(tmp_path):
    textgrid = pytest.importorskip("praatio.textgrid")
    from motionlab.feature_extraction.text import read_textgrid_words

    tg = textgrid.Textgrid()
    tg.addTier(textgrid.IntervalTier("phones", [(0.5, 1.5, "x")], 0, 2.0))
    tg.addTier(textgrid.IntervalTier("speaker", [(0.0, 2.0, "A")], 0, 2.0))
    tg.save(str(tmp_path / "a.TextGrid"), format="long_textgrid", includeBlankSpaces=True)
    with pytest.raises(MotionlabError, match=r"a.TextGrid.*word tier.*\['phones', 'speaker'\]"):
        read_textgrid_words(tmp_path / "a.TextGrid")
