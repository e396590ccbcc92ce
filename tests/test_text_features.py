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
