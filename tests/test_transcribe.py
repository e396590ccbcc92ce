"""Word timings from speech with PocketSphinx (issue 10): a known synthetic sentence (espeak-ng) is
aligned within 0.2 s, `motionlab extract text` transcribes audio-only takes into the data folder's
cache (never beside the user's files) and says so in the meta, bad audio is a clear error.

espeak-ng is a Debian package (.ci/run installs it): these tests skip without it only when
MOTIONLAB_REAL_DATA is unset (a developer machine); under CI they are mandatory."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pocketsphinx")
from motionlab.feature_extraction.transcribe import TRANSCRIPTS, transcribe_words  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402

SENTENCE = "please raise your hand when you hear the signal"
SR = 16000


@pytest.fixture(scope="module")
def espeak():
    exe = shutil.which("espeak-ng")
    if exe is None:
        if os.environ.get("MOTIONLAB_REAL_DATA"):
            pytest.fail("espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)")
        pytest.skip("espeak-ng not installed")
    return exe


def speak(exe, words, gap=0.3):
    """Each word spoken alone and joined with ``gap`` s of silence: the exact word boundaries are known."""
    import librosa

    parts, truth, t = [np.zeros(int(0.3 * SR), np.float32)], [], 0.3
    for w in words:
        wav = subprocess.run([exe, "-v", "en-us", "-s", "140", "--stdout", w], capture_output=True, check=True).stdout
        y, rate = sf.read(io.BytesIO(wav), dtype="float32")
        voiced = np.flatnonzero(np.abs(y) > 0.01)
        y = librosa.resample(y[voiced[0] : voiced[-1] + 1], orig_sr=rate, target_sr=SR)
        truth.append((w, t, t + len(y) / SR))
        parts += [y, np.zeros(int(gap * SR), np.float32)]
        t += len(y) / SR + int(gap * SR) / SR
    return np.concatenate(parts), truth


@pytest.fixture(scope="module")
def sentence_wav(espeak, tmp_path_factory):
    y, truth = speak(espeak, SENTENCE.split())
    path = tmp_path_factory.mktemp("speech") / "take.wav"
    sf.write(path, y, SR)
    return path, truth


def test_a_known_sentence_is_aligned_within_0_2_s(sentence_wav):
    path, truth = sentence_wav
    got = transcribe_words(path, SENTENCE)
    assert [w for w, _, _ in got] == SENTENCE.split()
    errors = [max(abs(a[1] - b[1]), abs(a[2] - b[2])) for a, b in zip(got, truth)]
    assert max(errors) < 0.2, list(zip(SENTENCE.split(), np.round(errors, 3)))


def test_recognition_without_a_transcript_gives_sorted_timings_inside_the_audio(sentence_wav):
    path, truth = sentence_wav
    got = transcribe_words(path)
    duration = sf.info(str(path)).duration
    assert len(got) >= 5 and all(0 <= s < e <= duration + 0.01 for _, s, e in got)
    assert [s for _, s, _ in got] == sorted(s for _, s, _ in got)
    assert {"please", "raise", "hand"} & {w for w, _, _ in got}  # the clearest words of the synthetic voice


def test_silence_gives_no_words_and_bad_audio_a_clear_error(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(SR * 2, np.float32), SR)
    assert transcribe_words(tmp_path / "quiet.wav") == []
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    with pytest.raises(MotionlabError, match="broken.wav"):
        transcribe_words(tmp_path / "broken.wav")
    with pytest.raises(MotionlabError, match="the transcript to align has no words"):
        transcribe_words(tmp_path / "quiet.wav", "  ... ")


def test_extract_text_transcribes_audio_only_takes_into_the_data_folder(sentence_wav, tmp_path, capsys):
    from test_prepare import write_take

    from motionlab import cli

    write_take(tmp_path, "take0", 4, seed=0)
    shutil.copy(sentence_wav[0], tmp_path / "take1.wav")  # audio only, with its transcript beside it
    (tmp_path / "take1.txt").write_text(SENTENCE + "\n")
    sf.write(tmp_path / "take0.wav", np.zeros(SR * 4, np.float32), SR)  # take0: silence, recognised
    sources_before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["extract", "text", str(tmp_path), "--fps", "20", "--no_progress"]) == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "text_tokens_20fps.meta.json").read_text())
    assert meta["settings"]["source"] == "mixed"
    assert meta["settings"]["sources"] == {"take0": "pocketsphinx (recognise)", "take1": "pocketsphinx (align)"}
    # two takes are split in time (take, take-val, take-test): together they cover the take's audio
    tokens = np.concatenate([np.load(p) for p in sorted(tmp_path.glob("take1*.text_tokens_20fps.npy"))])
    assert tokens.shape[0] == round(sf.info(str(tmp_path / "take1.wav")).duration * 20) and (tokens > 0).mean() > 0.3
    assert not any((np.load(p) > 0).any() for p in tmp_path.glob("take0*.text_tokens_20fps.npy"))  # silence: no words
    cached = tmp_path / TRANSCRIPTS / "take1.words.csv"
    assert cached.read_text().splitlines()[1].startswith("please,")
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".words.csv")]  # nothing written beside the user's takes
    assert set(sources_before) <= set(os.listdir(tmp_path))
    stamp = cached.stat().st_mtime_ns
    assert cli.main(["extract", "text", str(tmp_path), "--fps", "20", "--no_progress", "--replace_existing"]) == 0
    assert cached.stat().st_mtime_ns == stamp  # the cached transcription is reused while the audio is unchanged


def test_a_real_speech_take_is_transcribed_plausibly(real_data, tmp_path):
    takes = sorted(real_data.glob("paired/zeggs*/*.wav"))
    assert takes, f"{real_data}: no paired ZEGGS speech take"
    y, rate = sf.read(str(takes[0]), dtype="float32")
    sf.write(tmp_path / "excerpt.wav", y[: 20 * rate], rate)  # 20 s keep the test short
    words = transcribe_words(tmp_path / "excerpt.wav")
    assert len(words) >= 20 and all(0 <= s < e <= 20.01 for _, s, e in words)
    assert [s for _, s, _ in words] == sorted(s for _, s, _ in words)
    assert all(w.isascii() and w == w.lower() for w, _, _ in words)
