"""Reading checkpoints a user may have received from someone else: tensors and plain containers only.

``torch.load(weights_only=True)`` refuses anything that would run code while unpickling; this turns
that refusal (and truncated or foreign files) into one clear error naming the file, instead of a
traceback, so every place that reads a checkpoint says the same thing.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from motionlab.utils.errors import MotionlabError


def load_checkpoint(path, what: str = "checkpoint") -> dict:
    """The checkpoint dict at ``path`` (on CPU); MotionlabError if it is missing, unreadable or holds code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MotionlabError(f"{path}: {what} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
        raise MotionlabError(
            f"{path}: refused: this {what} holds Python objects that would run code when loaded (only tensors and plain "
            f"containers are read; a motionlab checkpoint never needs more) — {first}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, KeyError) as e:
        raise MotionlabError(f"{path}: not a readable {what} ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(ckpt, dict):
        raise MotionlabError(f"{path}: not a {what} (expected a dict of weights and settings, found {type(ckpt).__name__})")
    return ckpt
