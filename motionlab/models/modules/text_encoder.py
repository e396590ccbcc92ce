"""Contextual embeddings of per-frame sub-word tokens (the text side of CC-NCE).

Backends: ``minilm`` runs the transformer of the packaged all-MiniLM-L6-v2 (BERT WordPiece vocabulary)
on the window's tokens, frozen unless ``--text_encoder_lr > 0``; ``learned`` is a plain embedding table
(no extra needed). Both end in ``d_model`` channels.
"""

from __future__ import annotations

import torch
from torch import nn

from motionlab.feature_extraction.text import load_minilm, minilm_vocabulary_info
from motionlab.utils.errors import MotionlabError

BERT_VOCAB_SIZE = 30522  # BERT-base-uncased WordPiece, as used by all-MiniLM-L6-v2


def vocabulary_info(backend: str) -> dict:
    """{'tokenizer', 'size', 'hash'} of a backend's token vocabulary, to check against a feature's meta."""
    if backend in ("minilm", "learned"):
        return minilm_vocabulary_info()
    raise MotionlabError(f"--text_encoder: expected minilm or learned, found {backend!r}")


def check_vocabulary(meta_settings: dict, backend: str, feature: str = "text feature") -> None:
    """Refuse text features made with another tokenizer (ids would mean different sub-words)."""
    info = vocabulary_info(backend)
    if meta_settings.get("hash") != info["hash"] or int(meta_settings.get("size", -1)) != info["size"]:
        raise MotionlabError(
            f"{feature}: tokenizer mismatch (feature vocabulary size {meta_settings.get('size')} hash {meta_settings.get('hash')}, "
            f"model expects size {info['size']} hash {info['hash']}); re-run `motionlab extract text`"
        )


def add_text_encoder_options(parser):
    parser.add_argument("--text_encoder", type=str, default="none", choices=["none", "learned", "minilm"])
    parser.add_argument("--text_encoder_lr", type=float, default=0.0, help="> 0 fine-tunes MiniLM with this learning rate")
    parser.add_argument("--text_dim", type=int, default=0, help="output channels (0: the model's d_model)")
    return parser


class TextTokenEncoder(nn.Module):
    """(B, N) token ids + (B, N) padding mask (True = pad) -> (B, N, d_model)."""

    def __init__(self, backend: str, d_model: int, text_encoder_lr: float = 0.0, vocab_size: int = BERT_VOCAB_SIZE):
        super().__init__()
        if backend not in ("learned", "minilm"):
            raise MotionlabError(f"--text_encoder: expected learned or minilm, found {backend!r}")
        if text_encoder_lr < 0:
            raise MotionlabError(f"--text_encoder_lr: expected >= 0, found {text_encoder_lr}")
        self.backend, self.text_encoder_lr, self.vocab_size = backend, float(text_encoder_lr), int(vocab_size)
        if backend == "learned":
            self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
            self.transformer = None
        else:
            self.transformer = load_minilm()[0].auto_model
            fine_tune = self.text_encoder_lr > 0
            for p in self.transformer.parameters():
                p.requires_grad_(fine_tune)
            if not fine_tune:
                self.transformer.eval()
            self.proj = nn.Linear(self.transformer.config.hidden_size, d_model)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.transformer is not None and self.text_encoder_lr <= 0:
            self.transformer.eval()  # frozen: no dropout
        return self

    def forward(self, token_ids: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        token_ids = token_ids.long()
        if self.transformer is None:
            return self.embed(token_ids.masked_fill(padding_mask, 0))
        attn = (~padding_mask).long()
        ctx = torch.enable_grad() if self.text_encoder_lr > 0 else torch.no_grad()
        with ctx:
            hidden = self.transformer(input_ids=token_ids.masked_fill(padding_mask, 0), attention_mask=attn).last_hidden_state
        return self.proj(hidden)

    def parameter_groups(self, base_lr: float) -> list[dict]:
        """Optimizer groups: MiniLM weights at --text_encoder_lr (only when fine-tuned), the rest at base_lr."""
        own = [p for n, p in self.named_parameters() if not n.startswith("transformer.")]
        groups = [{"params": own, "lr": base_lr}]
        if self.transformer is not None and self.text_encoder_lr > 0:
            groups.append({"params": list(self.transformer.parameters()), "lr": self.text_encoder_lr})
        return groups
