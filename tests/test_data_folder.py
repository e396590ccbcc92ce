"""DataFolder: the one owner of the data-folder layout (names, splits, arrays, meta, scalers)."""

import json

import numpy as np
import pytest

from motionlab.datafolder import DataFolder, array_checksum, check_seq_id, feature_name, fps_tag
from motionlab.utils.errors import MotionlabError


@pytest.mark.parametrize("fps, tag", [(20, "20fps"), (20.0, "20fps"), (29.97, "29.97fps"), (12.5, "12.5fps"), (20.00048, "20fps"), (1 / 0.008333, "120fps"), (23.976, "23.98fps"), (100000, "100000fps")])
def test_fps_tag(fps, tag):
    assert fps_tag(fps) == tag
    assert DataFolder.fps_tag(fps) == tag


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), "fast"])
def test_fps_tag_refuses_non_positive(bad):
    with pytest.raises(MotionlabError, match="expected a positive number"):
        fps_tag(bad)


def test_feature_name():
    assert feature_name("text_tokens", 20) == "text_tokens_20fps"
    assert feature_name("keypoints3d", 29.97) == "keypoints3d_29.97fps"


def _rng_arrays(seqs, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return {q: (5 + 2 * rng.standard_normal((10 + i, d))).astype(np.float32) for i, q in enumerate(seqs)}


def test_splits_round_trip_and_comments(tmp_path):
    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    assert df.split("train") == ["a", "b"]
    assert df.splits() == {"train": ["a", "b"], "val": ["c"], "test": ["d"]}
    assert df.sequences() == ["a", "b", "c", "d"]
    (tmp_path / "base_filenames_val.txt").write_text("# held out\n\n c \n")
    assert df.split("val") == ["c"]


def test_missing_split_file_and_folder_messages(tmp_path):
    with pytest.raises(MotionlabError, match=r"base_filenames_val\.txt: split file missing"):
        DataFolder(tmp_path).split("val")
    with pytest.raises(MotionlabError, match=r"nowhere does not exist.*motionlab prepare"):
        DataFolder(tmp_path / "nowhere").split("train")


def test_write_splits_refuses_empty_splits(tmp_path):
    df = DataFolder(tmp_path)
    with pytest.raises(MotionlabError, match="train split would be empty"):
        df.write_splits({"train": [], "val": ["a"], "test": ["b"]}, allow_empty=True)
    with pytest.raises(MotionlabError, match="the val and test splits would be empty"):
        df.write_splits({"train": ["a"]})
    with pytest.raises(MotionlabError, match="the test split would be empty"):
        df.write_splits({"train": ["a"], "val": ["b"], "test": []})
    assert not list(tmp_path.iterdir())  # nothing written by a refused call
    df.write_splits({"train": ["a"]}, allow_empty=True)
    assert df.splits() == {"train": ["a"], "val": [], "test": []}


@pytest.mark.parametrize("bad", ["a/b", "a b", "#a", "", "a\\b"])
def test_sequence_ids_are_validated(tmp_path, bad):
    with pytest.raises(MotionlabError, match="cannot be used as a file name"):
        DataFolder(tmp_path).write_splits({"train": [bad], "val": ["v"], "test": ["t"]})
    with pytest.raises(MotionlabError, match="cannot be used as a file name"):
        check_seq_id(bad, "here")


def test_write_splits_refuses_a_sequence_in_two_splits(tmp_path):
    with pytest.raises(MotionlabError, match="'a' is in both the train and the val split"):
        DataFolder(tmp_path).write_splits({"train": ["a"], "val": ["a"], "test": ["b"]})


def test_write_feature_scaled_round_trip(tmp_path):
    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    raw = _rng_arrays("abcd")
    written = df.write_feature("feat_20fps", raw, fps=20, columns=["x", "y", "z"], settings={"source": "test"}, kind="keypoints", scale=True)
    assert sorted(written) == sorted(["feat_20fps.scaler.npz", "feat_20fps.meta.json"] + [f"{q}.feat_20fps.npy" for q in "abcd"])
    train = np.concatenate([raw["a"], raw["b"]]).astype(np.float64)
    scaler = df.scaler("feat_20fps")
    np.testing.assert_allclose(scaler.mean, train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scaler.scale, train.std(0), rtol=1e-5)
    for q in "abcd":  # scaled on disk, exactly the inverse of the raw arrays
        np.testing.assert_allclose(scaler.inverse_transform(df.open_feature(q, "feat_20fps")), raw[q], atol=1e-5)
    meta = df.meta("feat_20fps")
    assert meta == {"feature": "feat_20fps", "fps": 20.0, "dims": 3, "columns": ["x", "y", "z"], "settings": {"source": "test", "scaled": True}, "kind": "keypoints"}
    assert df.feature_names() == ["feat_20fps"]
    assert df.has_feature("a", "feat_20fps") and not df.has_feature("e", "feat_20fps")
    with np.load(df.scaler_path("feat_20fps"), allow_pickle=False) as z:
        assert list(z["fit_sequences"]) == ["a", "b"]
        assert sorted(z["sequences"]) == list("abcd")
    assert df.scaler_record("feat_20fps")["c"] == array_checksum(np.load(df.feature_path("c", "feat_20fps")))


def test_write_feature_raw_and_never_scaled(tmp_path):
    df = DataFolder(tmp_path)
    raw = _rng_arrays("ab")
    df.write_feature("f", raw, fps=25, columns=["x", "y", "z"], kind="audio")
    np.testing.assert_array_equal(df.open_feature("a", "f"), raw["a"])
    assert df.scaler("f") is None and df.meta("f")["settings"] == {"scaled": False}
    df.write_feature("tok", {"a": np.ones((4, 1))}, fps=25, columns=["token_id"], kind="text", scale=False)
    assert df.meta("tok")["settings"] == {"scalable": False, "scaled": False}


def test_write_feature_checks_shapes(tmp_path):
    with pytest.raises(MotionlabError, match=r"a\.f\.npy: expected a \(frames, 2\) array for 2 columns, found shape \(4, 3\)"):
        DataFolder(tmp_path).write_feature("f", {"a": np.zeros((4, 3))}, fps=20, columns=["x", "y"], kind="audio")


def test_open_feature_errors_name_file_frame_and_column(tmp_path):
    df = DataFolder(tmp_path)
    a = np.zeros((5, 3), dtype=np.float32)
    a[3, 2] = np.nan
    np.save(tmp_path / "s.f.npy", a)
    with pytest.raises(MotionlabError, match=r"s\.f\.npy: contains 1 NaN/inf values \(first at frame 3, column 2\)"):
        df.open_feature("s", "f")
    assert df.open_feature("s", "f", check_finite=False).shape == (5, 3)
    np.save(tmp_path / "s.g.npy", np.zeros((5, 3, 2)))
    with pytest.raises(MotionlabError, match=r"s\.g\.npy: expected a rank-2 array .* found shape \(5, 3, 2\)"):
        df.open_feature("s", "g")
    with pytest.raises(MotionlabError, match=r"s\.h\.npy: missing"):
        df.open_feature("s", "h")


def test_load_sequence_trims_to_the_shortest(tmp_path):
    df = DataFolder(tmp_path)
    np.save(tmp_path / "s.a.npy", np.arange(12, dtype=np.float64).reshape(6, 2))
    np.save(tmp_path / "s.b.npy", np.ones((4, 1), dtype=np.float32))
    out = df.load_sequence("s", ["a", "b"])
    assert {k: v.shape for k, v in out.items()} == {"a": (4, 2), "b": (4, 1)} and out["a"].dtype == np.float32
    np.testing.assert_array_equal(out["a"], np.arange(8).reshape(4, 2))
    with pytest.raises(MotionlabError, match="different lengths"):
        df.load_sequence("s", ["a", "b"], fix_lengths=False)


def test_meta_validation_names_the_file(tmp_path):
    df = DataFolder(tmp_path)
    (tmp_path / "f.meta.json").write_text(json.dumps({"feature": "f", "fps": 20, "dims": 2, "columns": ["a"], "settings": {}, "kind": "audio"}))
    with pytest.raises(MotionlabError, match=r"f\.meta\.json: expected 'columns' to be a list of length dims=2"):
        df.meta("f")
    (tmp_path / "g.meta.json").write_text(json.dumps({"feature": "g", "fps": 0, "dims": 0, "columns": [], "settings": {}, "kind": "audio"}))
    with pytest.raises(MotionlabError, match=r"g\.meta\.json: expected a positive 'fps'"):
        df.meta("g")
    with pytest.raises(MotionlabError, match=r"h\.meta\.json: file not found"):
        df.meta("h")


def test_stale_scaler_is_refused_and_rescaled(tmp_path):
    """Raw arrays written over scaled ones (by any writer) make the old scaler stale: refused, then refitted."""
    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    df.write_feature("f", _rng_arrays("abcd"), fps=20, columns="xyz", kind="keypoints")
    assert df.scale_feature("f") == "scaled (4 sequences)"
    assert df.scale_feature("f") == "already scaled"
    raw = _rng_arrays("abcd", seed=1)
    np.save(tmp_path / "a.f.npy", raw["a"])  # a writer that bypasses DataFolder
    fresh = DataFolder(tmp_path)
    with pytest.raises(MotionlabError, match=r"f\.scaler\.npz: stale: a\.f\.npy changed after it was scaled; re-run `motionlab extract scale"):
        fresh.scaler("f")
    assert fresh.scale_feature("f").startswith("rescaled")
    assert DataFolder(tmp_path).scaler("f") is not None


def test_unlisted_sequence_makes_scaler_stale(tmp_path):
    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    df.write_feature("f", _rng_arrays("abcd"), fps=20, columns="xyz", kind="keypoints", scale=True)
    np.save(tmp_path / "zz.f.npy", np.zeros((3, 3), np.float32))  # outside the splits: ignored
    assert DataFolder(tmp_path).scaler_state("f") == "current"
    df.write_splits({"train": ["a", "b", "zz"], "val": ["c"], "test": ["d"]})
    assert DataFolder(tmp_path).scaler_state("f") == "stale: it was never applied to zz.f.npy"


def test_speakers_round_trip_and_errors(tmp_path):
    df = DataFolder(tmp_path)
    assert df.speakers() == {}
    df.write_speakers({"a": "oliver", "b": "seth"})
    assert df.speakers() == {"a": "oliver", "b": "seth"}
    (tmp_path / "speakers.json").write_text("[1, 2]")
    with pytest.raises(MotionlabError, match=r"speakers\.json: expected a JSON object mapping sequence id -> speaker label"):
        df.speakers()


def test_manifest_and_audio_for(tmp_path):
    df = DataFolder(tmp_path)
    assert df.manifest() is None and df.sequence_info("a") == {} and df.audio_for("a") == (None, 0.0)
    (tmp_path / "b.ogg").write_bytes(b"x")
    assert df.audio_for("b") == (tmp_path / "b.ogg", 0.0)
    song = tmp_path / "song.wav"
    song.write_bytes(b"x")
    (tmp_path / "prepare.json").write_text(json.dumps({"sequences": {"a-test": {"audio": str(song), "audio_start": 12.5}}}))
    assert DataFolder(tmp_path).audio_for("a-test") == (song, 12.5)


def test_pipeline_refuses_non_motion_features(tmp_path):
    df = DataFolder(tmp_path)
    df.write_meta("kp", 20, ["x"], {}, kind="keypoints")
    with pytest.raises(MotionlabError, match=r"kp\.meta\.json: 'kp' is not a BVH motion feature"):
        df.pipeline("kp")
    with pytest.raises(MotionlabError, match=r"nothing\.meta\.json: missing"):
        df.pipeline("nothing")


def test_raw_arrays_written_through_the_folder_mark_the_scaler_stale(tmp_path):
    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    raw = _rng_arrays("abcd")
    df.write_feature("f", raw, fps=20, columns="xyz", kind="keypoints", scale=True)
    df.write_feature("f", raw, fps=20, columns="xyz", kind="keypoints")  # raw again, e.g. a re-import
    assert df.meta("f")["settings"]["scaled"] is False
    with pytest.raises(MotionlabError, match=r"f\.scaler\.npz: stale: raw arrays were written over the arrays it scaled; re-run `motionlab extract scale"):
        DataFolder(tmp_path).scaler("f")
    assert DataFolder(tmp_path).scale_feature("f") == "rescaled (its old scaler did not match the arrays) (4 sequences)"
    fresh = DataFolder(tmp_path)
    np.testing.assert_allclose(fresh.scaler("f").inverse_transform(fresh.open_feature("c", "f")), raw["c"], atol=1e-5)
    df.write_feature("f", raw, fps=20, columns="xyz", kind="text", scale=False)  # never to be scaled: scaler removed
    assert not df.scaler_path("f").exists() and DataFolder(tmp_path).scale_feature("f") == "token ids: not scaled"


def test_older_scaler_without_record(tmp_path):
    """A scaler from before fit records: refused for generation; `extract scale` adopts it when the meta says the arrays are scaled."""
    from motionlab.feature_extraction.scalers import StandardScaler

    df = DataFolder(tmp_path)
    df.write_splits({"train": ["a", "b"], "val": ["c"], "test": ["d"]})
    raw = _rng_arrays("abcd")
    old = StandardScaler.fit(raw[q] for q in "ab")
    for q in "abcd":
        np.save(tmp_path / f"{q}.f.npy", old.transform(raw[q]))
    old.save(df.scaler_path("f"))
    df.write_meta("f", 20, list("xyz"), {"scaled": True}, kind="keypoints")
    with pytest.raises(MotionlabError, match="records no arrays it was applied to"):
        df.scaler("f")
    assert df.scale_feature("f") == "already scaled (its older scaler now records the arrays)"
    np.testing.assert_array_equal(DataFolder(tmp_path).scaler("f").mean, old.mean)
