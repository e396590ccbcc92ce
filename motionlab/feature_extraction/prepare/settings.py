"""What decides a prepare run (``PrepareSettings``, saved in prepare.json) and what it reports (``Summary``)."""

from __future__ import annotations

from dataclasses import dataclass, field

STEPS = ("audio", "motion", "text")


@dataclass
class PrepareSettings:
    """Everything that decides the prepared features (saved in prepare.json)."""

    fps: float = 20.0
    audio_features: list[str] = field(default_factory=lambda: ["mel", "onset", "beats"])
    n_mels: int = 80
    sample_rate: int = 22050
    motion_representation: str = "expmap"
    joints: list[str] | None = None
    mirror: bool = False
    keypoints_fps: float | None = None
    keypoints_heading_joints: list[int] | None = None  # (left, right) joints giving a 3-D take's heading; None: heading held fixed
    keypoints_up_axis: str = "y"  # vertical axis of 3-D keypoint takes
    split_mode: str = "auto"  # takes | time | auto (time when fewer than 3 takes)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    text_embeddings: bool = False
    transcribe: bool = False  # takes with audio but no word timings: PocketSphinx (extract text turns it on)
    strict: bool = False
    max_duration_mismatch: float = 1.0
    seed: int = 0

    def audio_settings(self):
        from motionlab.feature_extraction.audio import AudioFeatureSettings

        return AudioFeatureSettings(features=list(self.audio_features), fps=self.fps, sr=self.sample_rate, n_mels=self.n_mels, n_mfcc=min(20, self.n_mels))


@dataclass
class Summary:
    """What a run did: counts, features and their dims, skipped takes and why, warnings."""

    takes: int = 0
    sequences: int = 0
    frames: int = 0
    seconds: float = 0.0
    features: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    up_to_date: bool = False

    def text(self, data_dir) -> str:
        lines = [f"prepared {data_dir}: {self.takes} takes -> {self.sequences} sequences, {self.frames} frames, {self.seconds:.1f} s"]
        if self.up_to_date:
            lines = [f"{data_dir}: up to date (same settings and sources); --replace_existing recomputes"]
        for name, dims in self.features.items():
            lines.append(f"  feature {name}: {dims} dims")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} takes:")
            lines += [f"    {t}: {why}" for t, why in self.skipped.items()]
        return "\n".join(lines)

    def skipped_note(self) -> str:
        """'; take: why; ...' for error messages (empty when nothing was skipped)."""
        return ("; " + "; ".join(f"{t}: {why}" for t, why in self.skipped.items())) if self.skipped else ""
