"""Property tests (hypothesis) of the option coercion and of the data-folder loaders (issue 13): hparams
YAML files with random values, keys and ``base:`` chains, and feature arrays, meta.json and scaler files
of random shape, dtype and bytes, raise nothing but MotionlabError naming the file or option.
(The BVH and word-timing parsers are fuzzed in test_parser_mutations.py; ``benchmarks/fuzz.py`` runs
all of these for minutes.)"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from motionlab.datafolder import DataFolder  # noqa: E402
from motionlab.options import load_hparams  # noqa: E402
from motionlab.training.options import parse_options  # noqa: E402
from motionlab.utils.errors import MotionlabError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_VALUES, _ = load_hparams(REPO / "hparams" / "demo.yaml")
KEYS = sorted(DEMO_VALUES) + ["batch_size", "max_epochs", "lr", "model", "input_modalities", "window_hop", "seed", "base", "no_such_option"]

yaml_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=4)


@st.composite
def hparams_files(draw):
    """A real hparams file (demo.yaml's merged values) with 1-3 keys changed, dropped or added, as
    YAML text; sometimes the text itself cut or spliced."""
    values = dict(DEMO_VALUES)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=6))
        if draw(st.booleans()) and key in values:
            del values[key]
        else:
            values[key] = draw(yaml_values)
    text = yaml.safe_dump(values)
    cut = draw(st.sampled_from(["none", "truncate", "splice"]))
    if cut == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif cut == "splice":
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from([": ", "- ", "[", "{", "\t", "base: ", "\n  x: 1\n", "!!python/object:os.system\n"])) + text[i:]
    return text


def assert_only_motionlab_errors(fn, *names):
    """``fn()`` either works or raises MotionlabError whose message contains one of ``names``."""
    try:
        fn()
    except MotionlabError as e:
        assert any(n in str(e) for n in names), f"message names none of {names}: {e}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=hparams_files())
def test_random_hparams_files_raise_only_motionlab_errors(tmp_path, text):
    path = tmp_path / "h.yaml"
    path.write_text(text)
    # a message names the file, an option (--x / 'x') or the model/base it could not find
    assert_only_motionlab_errors(lambda: parse_options(["--hparams_file", str(path), "--data_dir", str(tmp_path)]), str(path), "option", "--", "model", "dataset", "base", "hparams file")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=yaml_values, key=st.sampled_from(["batch_size", "max_epochs", "lr", "window_hop", "dhid", "dropout", "input_modalities", "check_finite"]))
@example(value=float("-inf"), key="batch_size")  # found by benchmarks/fuzz.py: OverflowError from int(-inf)
def test_any_yaml_value_for_a_typed_option_is_coerced_or_refused_naming_it(tmp_path, value, key):
    """The coercion itself: every YAML value for a typed option either gives that type or an error naming the option."""
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump({"base": "demo", key: value}))
    try:
        opt = parse_options(["--hparams_file", str(path), "--data_dir", str(tmp_path)])
    except MotionlabError as e:
        assert key in str(e) and str(path) in str(e), e
        return
    got = getattr(opt, key)
    expected = {"batch_size": int, "max_epochs": int, "window_hop": int, "dhid": int, "lr": float, "dropout": float, "input_modalities": list, "check_finite": bool}[key]
    assert isinstance(got, expected) and (expected is bool or not isinstance(got, bool)), (key, value, got)


# ------------------------------------------------------------------------- feature arrays and metadata

DTYPES = ["<f4", "<f8", "<i4", "|u1", "|b1", "<U3", "<c8", ">f4", "|O"]


@st.composite
def arrays(draw):
    """Arrays of random rank (0-3), size, dtype, with NaN/inf sprinkled into float ones."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    if dtype == "|O":
        a = np.empty(shape, dtype=object)
        a[...] = None
        return a
    a = np.zeros(shape, dtype=dtype)
    if a.size and a.dtype.kind == "f" and draw(st.booleans()):
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


@st.composite
def npy_files(draw):
    """The bytes of a random array's .npy, or of a good one truncated or with a byte changed."""
    if draw(st.booleans()):
        return npy_bytes(draw(arrays()))
    data = bytearray(npy_bytes(np.arange(24, dtype=np.float32).reshape(6, 4)))
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    i = draw(st.integers(0, len(data) - 1))
    data[i] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory):
    from motionlab.datasets.demo_data import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("fuzz") / "data", n_sequences=4, seconds=2.0)


def fresh_copy(good: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(good, target)
    return target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=npy_files())
def test_random_feature_arrays_raise_only_motionlab_errors(good_folder, tmp_path, data):
    folder = fresh_copy(good_folder, tmp_path)
    path = folder / "demo_00.demo_motion.npy"
    path.write_bytes(data)
    df = DataFolder(folder)
    assert_only_motionlab_errors(lambda: df.load_sequence("demo_00", ["demo_audio", "demo_motion"]), str(path))
    try:
        a = df.open_feature("demo_00", "demo_motion")
    except MotionlabError:
        return
    assert a.ndim == 2 and a.dtype.kind in "fiub" and np.isfinite(a).all()  # what the loader promises when it returns


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=st.dictionaries(st.sampled_from(["feature", "fps", "dims", "columns", "settings", "kind"]), yaml_values, max_size=6) | st.lists(yaml_scalars, max_size=2),
       raw=st.sampled_from(["json", "cut", "binary"]))
def test_random_meta_json_raises_only_motionlab_errors(good_folder, tmp_path, meta, raw):
    folder = fresh_copy(good_folder, tmp_path)
    path = folder / "demo_motion.meta.json"
    text = json.dumps(meta)
    path.write_bytes({"json": text.encode(), "cut": text[: len(text) // 2].encode(), "binary": b"\xff\xfe" + text.encode()}[raw])
    assert_only_motionlab_errors(lambda: DataFolder(folder).meta("demo_motion"), str(path))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=npy_files(), cut=st.integers(0, 400), which=st.sampled_from(["truncate", "member"]))
def test_random_scaler_files_raise_only_motionlab_errors(good_folder, tmp_path, data, cut, which):
    folder = fresh_copy(good_folder, tmp_path)
    path = folder / "demo_motion.scaler.npz"
    if which == "truncate":
        path.write_bytes(path.read_bytes()[:cut])
    else:  # a member replaced by a random array
        with np.load(path, allow_pickle=False) as z:
            members = {k: z[k] for k in z.files}
        key = sorted(members)[cut % len(members)]
        try:
            members[key] = np.load(io.BytesIO(data), allow_pickle=True)
        except Exception:  # noqa: BLE001 - an unreadable mutation: use an object array instead
            members[key] = np.array([None], dtype=object)
        with open(path, "wb") as f:
            np.savez(f, **members)
    df = DataFolder(folder)
    assert_only_motionlab_errors(lambda: (df.scaler_state("demo_motion"), df.scaler("demo_motion")), str(path))


def test_a_scaler_zip_with_an_unknown_compression_method_names_the_file(good_folder, tmp_path):
    """Found by benchmarks/fuzz.py: zipfile raises NotImplementedError for a damaged compression field."""
    folder = fresh_copy(good_folder, tmp_path)
    path = folder / "demo_motion.scaler.npz"
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # every central-directory entry's compression method
        data[at + 10] = 99
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    df = DataFolder(folder)
    with pytest.raises(MotionlabError, match="demo_motion.scaler.npz"):
        df.scaler_state("demo_motion")
        df.scaler("demo_motion")
