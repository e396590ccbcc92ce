import re
from pathlib import Path

import pytest

from motionlab.training.options import parse_options
from motionlab.utils.errors import MotionlabError


def parse(argv):
    return parse_options(argv)


def write(tmp_path, text, name="hp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_precedence_base_model_yaml_cli(tmp_path):
    opt = parse([])
    assert opt.batch_size == 32 and opt.dhid == 256  # base default, model default
    hp = write(tmp_path, "batch_size: 7\ndhid: 48\nnlayers: 3\n")
    opt = parse(["--hparams_file", hp])
    assert (opt.batch_size, opt.dhid, opt.nlayers) == (7, 48, 3)
    opt = parse(["--hparams_file", hp, "--dhid", "96"])
    assert (opt.batch_size, opt.dhid) == (7, 96)


def test_booleans_both_directions(tmp_path):
    assert parse([]).fix_lengths is False
    assert parse(["--fix_lengths"]).fix_lengths is True
    hp = write(tmp_path, "fix_lengths: true\nprogress_bar: false\n")
    opt = parse(["--hparams_file", hp])
    assert opt.fix_lengths is True and opt.progress_bar is False
    opt = parse(["--hparams_file", hp, "--no-fix_lengths", "--progress_bar"])
    assert opt.fix_lengths is False and opt.progress_bar is True


def test_lists_yaml_or_comma_typed(tmp_path):
    opt = parse(["--input_lengths", "5,6", "--input_modalities", "a,b"])
    assert opt.input_lengths == [5, 6] and opt.input_modalities == ["a", "b"]
    hp = write(tmp_path, "input_lengths: [3, 4]\noutput_lengths: '2'\ninput_time_offsets: -1,0\n")
    opt = parse(["--hparams_file", hp])
    assert opt.input_lengths == [3, 4] and opt.output_lengths == [2] and opt.input_time_offsets == [-1, 0]


def test_bad_list_item_names_option(tmp_path):
    hp = write(tmp_path, "input_lengths: [3, x]\n")
    with pytest.raises(MotionlabError, match="input_lengths"):
        parse(["--hparams_file", hp])


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    hp = write(tmp_path, "batch_size: 4\nbatchsize: 5\n")
    with pytest.raises(MotionlabError) as e:
        parse(["--hparams_file", hp])
    assert "batchsize" in str(e.value) and hp in str(e.value)


def test_unknown_cli_option(capsys):
    with pytest.raises(MotionlabError):
        parse(["--no_such_option", "1"])
    assert "--no_such_option" in capsys.readouterr().err


def test_yaml_that_does_not_parse(tmp_path):
    hp = write(tmp_path, "batch_size: [1, 2\n")
    with pytest.raises(MotionlabError, match="does not parse"):
        parse(["--hparams_file", hp])


def test_yaml_chooses_model_and_cli_overrides(tmp_path):
    hp = write(tmp_path, "model: transformer\ndataset_name: multimodal\n")
    assert parse(["--hparams_file", hp]).model == "transformer"
    with pytest.raises(MotionlabError, match="no model named 'nope'"):
        parse(["--hparams_file", hp, "--model", "nope"])


def test_hparams_name_resolution_and_experiment_name():
    opt = parse(["--hparams_file", "demo"])
    assert opt.experiment_name == "demo" and opt.hparams_file.endswith("hparams/demo.yaml")
    assert opt.input_modalities == ["demo_audio", "demo_motion"]
    assert parse(["--hparams_file", "demo", "--experiment_name", "x"]).experiment_name == "x"


def test_help_shows_model_and_dataset_groups(capsys):
    with pytest.raises(SystemExit) as e:
        parse(["--model", "transformer", "--dataset_name", "multimodal", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "model 'transformer'" in out and "--dhid" in out and "dataset 'multimodal'" in out and "--window_hop" in out


def test_hparams_subfolder_name(tmp_path, monkeypatch):
    (tmp_path / "hparams" / "dance").mkdir(parents=True)
    (tmp_path / "hparams" / "dance" / "small.yaml").write_text("batch_size: 3\n")
    monkeypatch.chdir(tmp_path)
    opt = parse(["--hparams_file", "dance/small"])
    assert opt.batch_size == 3 and opt.experiment_name == "dance_small"
    assert parse(["--hparams_file", "hparams/dance/small.yaml"]).experiment_name == "dance_small"
    with pytest.raises(MotionlabError, match="not found"):
        parse(["--hparams_file", "dance/missing"])


@pytest.mark.parametrize("path", sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "hparams").rglob("*.yaml")))
def test_every_shipped_hparams_file_parses(path):
    opt = parse(["--hparams_file", path])
    rel = Path(path).relative_to(Path(__file__).resolve().parents[1] / "hparams").with_suffix("")
    assert opt.experiment_name == "_".join(rel.parts)


def test_base_chain_precedence_and_relative_names(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "batch_size: 5\ndhid: 48\nnlayers: 3\nlearning_rate: 0.5\n", "root.yaml")
    write(tmp_path / "sub", "base: ../root.yaml\nbatch_size: 6\ndhid: 96\n", "mid.yaml")
    leaf = write(tmp_path / "sub", "base: mid.yaml\nbatch_size: 7\n", "leaf.yaml")
    opt = parse(["--hparams_file", leaf])
    assert (opt.batch_size, opt.dhid, opt.nlayers, opt.learning_rate) == (7, 96, 3, 0.5)  # leaf > mid > root > defaults
    assert parse(["--hparams_file", leaf, "--nlayers", "1"]).nlayers == 1  # command line over every file
    assert opt.experiment_name == "leaf" and opt.hparams_file == leaf
    # a base by name under hparams/: the demo models all extend demo/_common
    demo = parse(["--hparams_file", "demo/transflower"])
    assert demo.model == "transflower" and demo.input_modalities == ["demo_audio", "demo_motion"] and demo.max_epochs == 4
    assert parse(["--hparams_file", "demo/moglow"]).input_lengths == [29, 19]  # overrides the base's [20, 10]


def test_base_errors_name_the_file(tmp_path):
    write(tmp_path, "batch_size: 5\nbatchsize: 1\n", "root.yaml")
    leaf = write(tmp_path, "base: root.yaml\nbatch_size: 7\n", "leaf.yaml")
    with pytest.raises(MotionlabError, match=r"root\.yaml: unknown option 'batchsize'"):
        parse(["--hparams_file", leaf])
    write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(MotionlabError, match="'base:' chain loops"):
        parse(["--hparams_file", str(tmp_path / "a.yaml")])
    bad = write(tmp_path, "base: nowhere.yaml\n", "c.yaml")
    with pytest.raises(MotionlabError, match="hparams file 'nowhere.yaml' not found"):
        parse(["--hparams_file", bad])
    typed = write(tmp_path, "base: root.yaml\nbatch_size: many\n", "d.yaml")
    with pytest.raises(MotionlabError, match=r"d\.yaml: option 'batch_size'"):
        parse(["--hparams_file", typed])


def test_saved_options_are_complete_and_parse_back(tmp_path):
    from motionlab.options import load_yaml, save_options
    from motionlab.training.options import load_experiment_options

    opt = parse(["--hparams_file", "demo/transflower", "--batch_size", "9"])
    save_options(opt, tmp_path / "hparams.yaml")
    saved = load_yaml(tmp_path / "hparams.yaml")
    assert "base" not in saved and saved["batch_size"] == 9 and saved["flow_hidden"] == 32 and saved["max_epochs"] == 4  # resolved, whole
    back = load_experiment_options(tmp_path)
    assert vars(back) == {**vars(opt), "hparams_file": None}
    assert load_experiment_options(tmp_path, ["--data_dir", "elsewhere"]).data_dir == "elsewhere"
    (tmp_path / "hparams.yaml").write_text((tmp_path / "hparams.yaml").read_text().replace("flow_dist: normal", "flow_dist: cauchy"))
    with pytest.raises(MotionlabError, match=r"hparams\.yaml: option 'flow_dist': expected one of"):
        load_experiment_options(tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["--batch_size", "0"], r"argument --batch_size: expected an integer >= 1, got '0'"),
    (["--learning_rate", "-1"], r"argument --learning_rate: expected a number >= 0.0"),
    (["--num_workers", "-2"], r"argument --num_workers: expected an integer >= 0"),
])
def test_out_of_range_values_are_refused_by_name(argv, message, capsys):
    with pytest.raises(MotionlabError):
        parse(argv)
    assert re.search(message, capsys.readouterr().err)
