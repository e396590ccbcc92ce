"""Audio frames attending to the words spoken during them (CC-NCE's fusion, specs/gesture-systems.md §2).

The text arrives as the ``text_wordpiece_<fps>fps`` feature windowed like the motion: per frame
``[token_id, token_index]`` (silence: id 0, index -1; ``token_index`` counts sub-words over the take,
so two consecutive identical words stay two tokens). :func:`window_tokens` turns a batch of such
windows into each sample's token sequence (the memory) and the slot every frame may attend to;
:class:`TextAudioFusion` runs a transformer decoder with the audio frames as queries, each frame
masked to its own word's token(s) — per sample (the original used sample 0's mask for the batch) —
then concatenates the result with the audio features (conv + LayerNorm back to C channels).

Memory slot 0 is a learned "silence" vector: frames where nothing is said attend to it alone, so
no attention row is ever empty.
"""

from __future__ import annotations

import torch
from torch import nn

from motionlab.models.modules.conv import ConvNormReLU
from motionlab.models.modules.transformer import PositionalEncoding
from motionlab.utils.errors import MotionlabError


def window_tokens(text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, L, 2) [token_id, token_index] windows -> (ids (B, N), padding (B, N) True = pad, frame_slot (B, L)).

    ``ids[b]`` are sample b's distinct tokens in order of ``token_index``; ``frame_slot[b, t]`` is the
    memory slot frame t may attend to: 1 + the position of its token in ``ids[b]``, or 0 (silence).
    """
    if text.dim() != 3 or text.shape[2] != 2:
        raise MotionlabError(f"text windows: expected (batch, frames, 2) [token_id, token_index], got {tuple(text.shape)}")
    B, L, _ = text.shape
    token_id, token_index = text[..., 0].round().long(), text[..., 1].round().long()
    per_sample = []
    frame_slot = torch.zeros(B, L, dtype=torch.long, device=text.device)
    for b in range(B):
        spoken = token_index[b] >= 0
        uniq, inverse = torch.unique(token_index[b][spoken], sorted=True, return_inverse=True)
        first = torch.full((len(uniq),), L, dtype=torch.long, device=text.device)
        first.scatter_reduce_(0, inverse, torch.nonzero(spoken).squeeze(1), reduce="amin")
        per_sample.append(token_id[b][first])
        frame_slot[b][spoken] = inverse + 1
    n = max(1, max(len(ids) for ids in per_sample))
    ids = torch.zeros(B, n, dtype=torch.long, device=text.device)
    padding = torch.ones(B, n, dtype=torch.bool, device=text.device)
    for b, sample_ids in enumerate(per_sample):
        ids[b, : len(sample_ids)] = sample_ids
        padding[b, : len(sample_ids)] = False
    return ids, padding, frame_slot


def frame_token_mask(frame_slot: torch.Tensor, slots: int) -> torch.Tensor:
    """(B, L) slots -> (B, L, slots) bool, True where frame t may NOT attend to slot j (PyTorch's convention)."""
    return frame_slot[:, :, None] != torch.arange(slots, device=frame_slot.device)[None, None, :]


class TextAudioFusion(nn.Module):
    """(audio (B, C, L), token embeddings (B, N, C), padding (B, N), frame_slot (B, L)) -> (B, C, L)."""

    def __init__(self, channels: int, heads: int = 8, layers: int = 2, *, dropout: float = 0.1, norm: str = "batch"):
        super().__init__()
        if channels % heads:
            raise MotionlabError(f"--fusion_heads {heads} must divide the channels ({channels}, --hidden_channels)")
        self.heads = heads
        self.silence = nn.Parameter(torch.zeros(1, 1, channels))
        self.positions = PositionalEncoding(channels)
        layer = nn.TransformerDecoderLayer(channels, heads, dim_feedforward=2 * channels, dropout=dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.mix = ConvNormReLU(2 * channels, channels, norm=norm)
        self.out_norm = nn.LayerNorm(channels)

    def attend(self, audio: torch.Tensor, tokens: torch.Tensor, frame_slot: torch.Tensor) -> torch.Tensor:
        """The transformer decoder's output (B, L, C): audio frames as queries, each masked to its own word's slot."""
        B, C, L = audio.shape
        memory = torch.cat([self.silence.expand(B, 1, C), self.positions(tokens)], dim=1)
        mask = frame_token_mask(frame_slot, memory.shape[1])  # padded slots are never any frame's slot
        return self.decoder(self.positions(audio.transpose(1, 2)), memory, memory_mask=mask.repeat_interleave(self.heads, dim=0))

    def forward(self, audio: torch.Tensor, tokens: torch.Tensor, padding: torch.Tensor, frame_slot: torch.Tensor) -> torch.Tensor:
        fused = self.attend(audio, tokens, frame_slot)
        h = self.mix(torch.cat([fused.transpose(1, 2), audio], dim=1))
        return self.out_norm(h.transpose(1, 2)).transpose(1, 2)
