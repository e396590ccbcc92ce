import sys
import textwrap

import pytest

from motionlab import registry
from motionlab.datasets import find_dataset_using_name
from motionlab.models import find_model_using_name, registered_models
from motionlab.models.base_model import BaseModel
from motionlab.models.transformer_model import TransformerModel
from motionlab.utils.errors import MotionlabError


def test_finds_builtin_model_and_dataset():
    assert find_model_using_name("transformer") is TransformerModel
    assert find_dataset_using_name("multimodal").__name__ == "MultimodalDataset"


def test_unknown_name_lists_registered():
    with pytest.raises(MotionlabError) as e:
        find_model_using_name("nosuchthing")
    assert "nosuchthing" in str(e.value) and "transformer" in str(e.value)


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_plugin_mod.py").write_text(textwrap.dedent('''
        from motionlab.models.transformer_model import TransformerModel

        class FancyTransformerModel(TransformerModel):
            """A subclass of a registered model, itself registrable."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_plugin_mod"
    registry._extra_plugin_modules.clear()
    sys.modules.pop("my_plugin_mod", None)


def test_plugin_module_and_subclass(plugin_module):
    with pytest.raises(MotionlabError):
        find_model_using_name("fancy_transformer")
    registry.add_plugin_modules(plugin_module)
    cls = find_model_using_name("fancy_transformer")
    assert cls.__name__ == "FancyTransformerModel" and issubclass(cls, BaseModel)
    assert "fancytransformer" in registered_models()


def test_bad_plugin_module():
    with pytest.raises(MotionlabError, match="cannot import module 'no_such_module_xyz'"):
        registry.add_plugin_modules("no_such_module_xyz")


def test_entry_point_plugin(plugin_module, monkeypatch):
    class EP:
        value = plugin_module

    monkeypatch.setattr(registry, "entry_points", lambda group: [EP()] if group == "motionlab.models" else [])
    assert find_model_using_name("fancy_transformer").__name__ == "FancyTransformerModel"


def test_info_lists_models_and_datasets(capsys):
    from motionlab.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "transformer" in out and "multimodal" in out and "Multimodal transformer" in out
