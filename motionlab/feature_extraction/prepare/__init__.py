"""``motionlab prepare DIR``: from a folder of paired takes to a data folder ready to train on.

A take is a motion source plus its audio (and optionally its words), paired by base name:

    take1.bvh + take1.wav            BVH motion capture
    take2.npy + take2.ogg            joint positions, frames x joints x 2|3 (give --keypoints_fps)
    take3/ (OpenPose *_keypoints.json) + take3.mp3
    take1.words.csv                  optional word timings (word,start,end in seconds)

Every take is decoded (in ``--jobs`` processes), audio and motion are brought to ``--fps`` and
trimmed to a common length (a difference over one second is reported; ``--strict`` refuses it),
splits are made (whole takes, or a split in time when there are too few takes), the motion
pipeline and the scalers are fitted on the train split only, and the scaled features, their
``.meta.json``, the ``.scaler.npz`` files, the motion pipeline and the split lists are written
next to the sources. ``prepare.json`` records the settings, the sources and, for every sequence,
where its audio came from, which generation uses for videos.

Re-running with the same settings and unchanged sources does nothing; anything else recomputes
(feature names encode the settings, so other settings write new files beside the old ones).
Bad takes are reported in the summary and skipped; every file is written atomically.

Modules: ``discovery`` (pairing files into takes), ``takes`` (decoding one take in a worker),
``splits`` (train/val/test), ``writer`` (features, scalers, pipeline, manifest), ``run``
(``prepare``, ``scale_features``), ``cli`` (``motionlab prepare`` / ``motionlab extract``).
"""

from motionlab.feature_extraction.prepare.run import prepare, scale_features
from motionlab.feature_extraction.prepare.settings import STEPS, PrepareSettings, Summary

__all__ = ["prepare", "scale_features", "PrepareSettings", "Summary", "STEPS"]
