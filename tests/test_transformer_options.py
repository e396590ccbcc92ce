"""Transformer layer options (issue 14): feed-forward width and pre/post-norm are options, not constants."""

from __future__ import annotations

import argparse

import pytest
import torch

from motionlab.models.modules.transformer import MultimodalTransformer, transformer_kwargs
from motionlab.utils.errors import MotionlabError
from test_flow_models import make


def layers(net: MultimodalTransformer):
    return [layer for enc in (*net.encoders, *net.cross) for layer in enc.layers.layers]


def test_default_is_pre_norm_with_twice_the_width():
    net = MultimodalTransformer([3, 5], [2], [4], d_model=16, nhead=2, nlayers=2, input_nlayers=1)
    assert all(layer.linear1.out_features == 32 and layer.norm_first for layer in layers(net))
    assert all(isinstance(enc.norm, torch.nn.LayerNorm) for enc in (*net.encoders, *net.cross))


def test_width_and_post_norm_as_the_papers_model():
    net = MultimodalTransformer([3, 5], [2], [4], d_model=16, nhead=2, nlayers=2, input_nlayers=1, dim_feedforward=16, norm_first=False)
    assert all(layer.linear1.out_features == 16 and layer.linear2.in_features == 16 and not layer.norm_first for layer in layers(net))
    assert all(isinstance(enc.norm, torch.nn.Identity) for enc in (*net.encoders, *net.cross))  # post-norm layers end normalised
    out = net([torch.randn(2, 7, 3), torch.randn(2, 4, 5)])
    assert [tuple(o.shape) for o in out] == [(2, 2, 4)]


@pytest.mark.parametrize("name", ["transformer", "transflower", "transglower"])
def test_models_take_the_options_and_old_experiments_keep_their_layers(name):
    model = make(name, "--dim_feedforward", "24", "--no-norm_first")
    nets = [m for m in model.modules() if isinstance(m, MultimodalTransformer)]
    assert nets and all(layer.linear1.out_features == 24 and not layer.norm_first for layer in layers(nets[0]))
    old = argparse.Namespace(dhid=32)  # hparams saved before the options existed
    assert transformer_kwargs(old) == {"dim_feedforward": None, "norm_first": True}
    with pytest.raises(MotionlabError, match="--dim_feedforward: expected 0"):
        transformer_kwargs(argparse.Namespace(dim_feedforward=-4))
