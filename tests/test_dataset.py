import argparse
import json
import logging

import numpy as np
import pytest
import torch

from motionlab.datasets.multimodal_dataset import MultimodalDataset, window_starts
from motionlab.utils.errors import MotionlabError


def make_folder(tmp_path, lengths: dict, dims=(2, 3), splits=None):
    """Sequence s with arrays a (dims[0]) and m (dims[1]); value = frame index in column 0."""
    for seq, (la, lm) in lengths.items():
        for name, n, d in (("a", la, dims[0]), ("m", lm, dims[1])):
            arr = np.zeros((n, d), np.float32)
            arr[:, 0] = np.arange(n)
            arr[:, 1] = 1000 * int(seq[1:]) if d > 1 else 0
            np.save(tmp_path / f"{seq}.{name}.npy", arr)
    for split, seqs in (splits or {"train": list(lengths), "val": [], "test": []}).items():
        (tmp_path / f"base_filenames_{split}.txt").write_text("\n".join(seqs) + "\n")
    return tmp_path


def opts(data_dir, **kw):
    base = dict(
        data_dir=str(data_dir), input_modalities=["a", "m"], output_modalities=["m"], input_lengths=[4, 2], output_lengths=[1],
        input_time_offsets=[0, 0], output_time_offsets=[2], window_hop=1, fix_lengths=False, check_finite=True,
    )
    base.update(kw)
    return argparse.Namespace(**base)


def test_window_starts_formula():
    assert list(window_starts(10, [4, 2, 1], [0, 0, 2], 1)) == list(range(0, 7))
    assert list(window_starts(10, [4, 2, 1], [0, 0, 2], 3)) == [0, 3, 6]
    # negative offset: the first start must leave room before it
    assert list(window_starts(10, [3, 1], [-2, 0], 1)) == list(range(2, 10))
    assert list(window_starts(3, [4], [0], 1)) == []


def test_exact_window_contents(tmp_path):
    ds = MultimodalDataset(opts(make_folder(tmp_path, {"s1": (10, 10), "s2": (8, 8)})))
    assert len(ds) == 7 + 5
    spec = ds.data_spec()
    assert spec.input_dims == (2, 3) and spec.output_dims == (3,) and spec.num_windows == 12 and spec.sequence_ids == ("s1", "s2")
    item = ds[8]  # second sequence, start 1
    assert (item["window_id"], item["sequence_index"], item["start"]) == (8, 1, 1)
    a, m = item["inputs"]
    (y,) = item["outputs"]
    assert a[:, 0].tolist() == [1, 2, 3, 4] and m[:, 0].tolist() == [1, 2] and y[:, 0].tolist() == [3]
    assert a[0, 1] == 2000


def test_negative_offsets_and_hop(tmp_path):
    ds = MultimodalDataset(opts(make_folder(tmp_path, {"s1": (12, 12)}), input_time_offsets=[-3, 0], window_hop=2))
    assert [ds.window(i) for i in range(len(ds))] == [(0, 3), (0, 5), (0, 7), (0, 9)]
    a, m = ds[0]["inputs"]
    assert a[:, 0].tolist() == [0, 1, 2, 3] and m[:, 0].tolist() == [3, 4] and ds[0]["outputs"][0][:, 0].tolist() == [5]


def test_lengths_differ_error_and_fix_lengths(tmp_path, caplog):
    folder = make_folder(tmp_path, {"s1": (10, 12)})
    before = np.load(folder / "s1.m.npy").shape
    with pytest.raises(MotionlabError, match="different lengths.*a: 10, m: 12.*--fix_lengths"):
        MultimodalDataset(opts(folder))
    with caplog.at_level(logging.WARNING):
        ds = MultimodalDataset(opts(folder, fix_lengths=True))
    assert len(ds) == 7 and "trimming" in caplog.text
    assert np.load(folder / "s1.m.npy").shape == before  # data files never rewritten


def test_short_sequences_skipped_with_count(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ds = MultimodalDataset(opts(make_folder(tmp_path, {"s1": (10, 10), "s2": (3, 3), "s3": (2, 2)})))
    assert ds.seq_ids == ["s1"] and "skipped 2 of 3" in caplog.text


def test_speakers_reach_model_as_ids(tmp_path):
    folder = make_folder(tmp_path, {"s1": (6, 6), "s2": (6, 6)})
    (folder / "speakers.json").write_text(json.dumps({"s1": "oliver", "s2": "ellen"}))
    ds = MultimodalDataset(opts(folder))
    assert ds.speaker_names == ["ellen", "oliver"] and ds.data_spec().speaker_names == ("ellen", "oliver") and ds.data_spec().num_speakers == 2
    assert ds[0]["speaker"] == 1 and ds[len(ds) - 1]["speaker"] == 0
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    assert batch["speaker"].dtype == torch.int64


def test_splits_are_separate(tmp_path):
    folder = make_folder(tmp_path, {"s1": (6, 6), "s2": (7, 7), "s3": (8, 8)}, splits={"train": ["s1"], "val": ["s2"], "test": ["s3"]})
    assert [len(MultimodalDataset(opts(folder), s)) for s in ("train", "val", "test")] == [3, 4, 5]


def test_num_workers(small_demo):
    o = opts(small_demo, input_modalities=["demo_audio", "demo_motion"], output_modalities=["demo_motion"], input_lengths=[10, 5], output_time_offsets=[5])
    ds = MultimodalDataset(o)
    seen = []
    for batch in torch.utils.data.DataLoader(ds, batch_size=50, num_workers=2):
        seen.extend(batch["window_id"].tolist())
    assert sorted(seen) == list(range(len(ds)))


def test_window_ids_are_stable_across_epochs_workers_and_reopening(small_demo):
    """A window id names the same (sequence, start) and contents whatever the shuffling, workers or process (resume)."""
    o = opts(small_demo, input_modalities=["demo_audio", "demo_motion"], output_modalities=["demo_motion"], input_lengths=[10, 5], output_time_offsets=[5], window_hop=3)
    ds = MultimodalDataset(o)
    reopened = MultimodalDataset(o)  # what a resumed run or another DDP rank builds
    assert np.array_equal(ds.windows, reopened.windows)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(1))
    orders = []
    for _epoch in range(2):
        order = []
        for batch in loader:
            for k, wid in enumerate(batch["window_id"].tolist()):
                ref = reopened[wid]
                assert (batch["sequence_index"][k].item(), batch["start"][k].item()) == reopened.window(wid)
                np.testing.assert_array_equal(batch["outputs"][0][k].numpy(), ref["outputs"][0])
                order.append(wid)
        assert sorted(order) == list(range(len(ds)))
        orders.append(order)
    assert orders[0] != orders[1]  # shuffled differently, ids unchanged


def test_sequence_inputs_and_conditions_for_generation(tmp_path):
    folder = make_folder(tmp_path, {"s1": (10, 12), "s2": (9, 9)})
    (folder / "speakers.json").write_text(json.dumps({"s1": "oliver", "s2": "ellen"}))
    ds = MultimodalDataset(opts(folder), None)  # generation: no windows enumerated
    assert len(ds) == 0
    arrays = ds.sequence_inputs("s1")
    assert sorted(arrays) == ["a", "m"] and arrays["a"].shape == (10, 2) and arrays["m"].shape == (10, 3)  # trimmed to the common length
    assert ds.sequence_conditions("s1") == {"speaker": 1} and ds.sequence_conditions("s2") == {"speaker": 0}
    assert ds.data_spec().input_dims == (2, 3)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: (f / "s1.m.npy").unlink(), r"s1\.m\.npy: missing"),
        (lambda f: (f / "base_filenames_train.txt").unlink(), r"base_filenames_train\.txt: split file missing"),
        (lambda f: np.save(f / "s1.m.npy", np.zeros((4, 2, 2), np.float32)), r"s1\.m\.npy: expected a rank-2 array.*\(4, 2, 2\)"),
        (lambda f: np.save(f / "s1.m.npy", np.array([[0, 1, 2], [np.nan, 0, 0]] * 5, np.float32)), r"s1\.m\.npy: contains 5 NaN/inf.*frame 1, column 0"),
        (lambda f: np.save(f / "s1.m.npy", np.array([[0, 1, np.inf]] * 10, np.float32)), r"NaN/inf"),
    ],
)
def test_bad_input_errors(tmp_path, mutate, message):
    folder = make_folder(tmp_path, {"s1": (10, 10)})
    mutate(folder)
    with pytest.raises(MotionlabError, match=message):
        MultimodalDataset(opts(folder))


def test_missing_data_folder(tmp_path):
    with pytest.raises(MotionlabError, match="does not exist"):
        MultimodalDataset(opts(tmp_path / "nope"))


def test_lengths_count_mismatch(tmp_path):
    folder = make_folder(tmp_path, {"s1": (10, 10)})
    with pytest.raises(MotionlabError, match=r"--input_lengths has 1 values \[4\] but there are 2 input modalities"):
        MultimodalDataset(opts(folder, input_lengths=[4]))
    with pytest.raises(MotionlabError, match=r"--output_time_offsets has 2 values"):
        MultimodalDataset(opts(folder, output_time_offsets=[1, 2]))
