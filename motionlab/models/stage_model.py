"""StageModel: StAGE (Ahuja et al. 2020), style-conditioned Speech2Gesture — Mix-StAGE with a single generator.

Same style embedding, pose style encoder, identity losses and curriculum as
:class:`~motionlab.models.mixstage_model.MixStageModel`, but one decoder and no cluster classifier,
so it needs no pose-cluster labels (``--pose_clusters`` is ignored).
"""

from __future__ import annotations

from motionlab.models.mixstage_model import MixStageModel


class StageModel(MixStageModel):
    """StAGE: Speech2Gesture with a style embedding (speaker id), trained with a pose style encoder — Mix-StAGE with one generator."""

    def num_generators(self) -> int:
        return 1
