"""``Scorer``: every metric that applies to a data folder's motion feature, computed the same way for
the model, each baseline and the ground truth.

What applies is decided from the data: feature-space metrics always; position metrics when the
feature decodes to a skeleton (BVH motion or keypoint features, through ``outputs.skeleton_drawing``);
beat metrics when the sequences have audio files; foot contact for 3-D skeletons with named feet;
FGD and style metrics when a trained feature network is named; NLL for models that report one.
Everything skipped is said in ``notes`` (and in the report).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionlab.analysis import metrics as M
from motionlab.analysis.baselines import train_mean
from motionlab.datafolder import DataFolder
from motionlab.utils.errors import MotionlabError


def _first_sample(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else a[0]


def _value(metric) -> float | None:
    """``metric.compute()`` as a float, or None when the system gave it nothing to measure (e.g. no motion beats in a frozen pose)."""
    try:
        return float(metric.compute())
    except MotionlabError as e:
        if "needs at least" in str(e):
            return None
        raise


class Scorer:
    def __init__(self, folder: DataFolder, feature: str, *, exp=None, fgd_model=None, style_model=None, experiments_dir="training/experiments", ftd_model=None, window: int | None = None, max_cluster_frames: int = 20000, motion_beats: str = "minima"):
        self.folder, self.feature = folder, feature
        if motion_beats not in ("minima", "maxima"):
            raise MotionlabError(f"--motion_beats: 'minima' (dance) or 'maxima' (co-speech gesture), got {motion_beats!r}")
        self.motion_beat_extrema = motion_beats
        self.notes: list[str] = []
        meta = folder.meta(feature) if folder.meta_path(feature).exists() else None
        if meta is None:
            raise MotionlabError(f"{folder.meta_path(feature)}: missing; evaluation needs the feature's frame rate and how it was made")
        self.fps = float(meta["fps"])
        self.window = int(window or round(2 * self.fps))
        self.scaler = folder.scaler(feature)
        self.drawable = meta["kind"] in ("motion", "keypoints")
        if not self.drawable:
            self.notes.append(f"position metrics skipped: '{feature}' is a '{meta['kind']}' feature, not a skeleton")
        self._beats: dict[str, tuple] = {}
        self._decoded: dict[tuple[str, str], np.ndarray] = {}  # (system, seq) -> positions: score() and plots() decode once
        self.fgd_net = self.style_net = None
        if fgd_model:
            from motionlab.analysis.feature_networks import load_feature_network

            self.fgd_net = load_feature_network(fgd_model, kind="motion_autoencoder", feature=feature, data_dir=folder.path, experiments_dir=experiments_dir)
        else:
            self.notes.append(f"FGD not computed: name a trained autoencoder with --fgd_model (train one: ./script_train.sh analysis/fgd_autoencoder --data_dir {folder.path} --input_modalities {feature} --output_modalities {feature})")
        self.ftd_net = None
        if ftd_model:  # SDT's FTD: the FGD computation on a pose2pose VAE's μ (untrained/other-data VAEs refused by the loader)
            from motionlab.analysis.feature_networks import load_feature_network

            self.ftd_net = load_feature_network(ftd_model, kind="pose2pose_vae", feature=feature, data_dir=folder.path, experiments_dir=experiments_dir)
        if style_model:
            from motionlab.analysis.feature_networks import load_feature_network

            self.style_net = load_feature_network(style_model, kind="style_classifier", feature=feature, data_dir=folder.path, experiments_dir=experiments_dir)
        self.mean_features = train_mean(folder, feature)
        self.feet = None
        self.up_axis = "y"
        if self.drawable:
            d = self.drawing(self.mean_features[None], None)
            self.up_axis = d["up_axis"]
            self.mean_pose = d["positions"][0]
            # free joint positions (keypoints) can stretch their bones; FK skeletons cannot
            self.bone_edges = d.get("edges") if meta["kind"] == "keypoints" else None
            self.joint_names = d.get("joint_names")
            self.centroids = self._clusters(max_cluster_frames)
            if d["positions"].shape[-1] == 3 and self.joint_names:
                from motionlab.analysis.physical import foot_joints

                try:
                    self.feet = foot_joints(self.joint_names)
                except MotionlabError as e:
                    self.notes.append(f"foot contact (PFC) skipped: {e}")
            else:
                self.notes.append("foot contact (PFC) skipped: needs a 3-D skeleton with named joints")

    # ---------------------------------------------------------------- conversions

    def scaled(self, a: np.ndarray) -> np.ndarray:
        return self.scaler.transform(a) if self.scaler is not None else np.asarray(a, np.float32)

    def drawing(self, feats: np.ndarray, seq: str | None) -> dict:
        from motionlab.inference.outputs import skeleton_drawing

        return skeleton_drawing(self.folder, self.feature, np.asarray(feats, np.float32), seq)

    def positions(self, feats: np.ndarray, seq: str | None) -> np.ndarray:
        return np.asarray(self.drawing(feats, seq)["positions"], np.float64)

    def system_positions(self, system: str, seq: str, feats: np.ndarray) -> np.ndarray:
        """Positions of one system's (first) sample of ``seq``, decoded once per evaluation."""
        key = (system, seq)
        if key not in self._decoded:
            self._decoded[key] = self.positions(_first_sample(feats), seq)
        return self._decoded[key]

    @staticmethod
    def pose(pos: np.ndarray) -> np.ndarray:
        """Per-frame poses with the trajectory removed (joints relative to their per-frame centroid)."""
        return pos - pos.mean(axis=-2, keepdims=True)

    def _clusters(self, max_frames: int) -> np.ndarray:
        """k = 8 centres of the k-means feature (pose + velocity + speed, ``pose_clusters``) of the train poses."""
        from motionlab.feature_extraction.pose_clusters import fit_sequence_clusters

        poses = []
        for q in self.folder.split("train"):
            feats = np.asarray(self.folder.open_feature(q, self.feature), np.float32)
            raw = self.scaler.inverse_transform(feats) if self.scaler is not None else feats
            poses.append(self.pose(self.positions(raw, q)))
        return fit_sequence_clusters(poses, k=8, seed=0, max_frames=max_frames)

    def beats(self, seq: str, n_frames: int):
        """(music beats, audio onsets) of a sequence's audio in seconds from its start, or None without audio."""
        if seq not in self._beats:
            from motionlab.analysis.alignment import audio_beats, audio_onsets

            path, start = self.folder.audio_for(seq)
            if path is None:
                self._beats[seq] = None
            else:
                duration = n_frames / self.fps
                self._beats[seq] = (audio_beats(path, start=start, duration=duration), audio_onsets(path, start=start, duration=duration))
        return self._beats[seq]

    # ---------------------------------------------------------------- scoring

    def score(self, name: str, arrays: dict[str, np.ndarray], truth: dict[str, np.ndarray], *, model=None, dataset_split: str = "test", opt=None) -> dict:
        """Every applicable metric of one system's sequences (unscaled features, (T, D) or (K, T, D)) against the ground truth."""
        from motionlab.analysis import alignment, physical
        from motionlab.feature_extraction.pose_clusters import cluster_features

        fps = self.fps
        feat = {"l1": M.L1(), "mse": M.MSE()}
        pos: dict = {}
        if self.drawable:
            pos = {
                "mpjpe": M.MPJPE(), "pck@0.1": M.PCK(0.1), "pck@0.2": M.PCK(0.2),
                "fid_pose": M.FrechetDistance(frame_ndim=2), "fid_pose_normalised": M.FrechetDistance(normalize=True, frame_ndim=2),
                "fid_kinetic": M.KineticFID(fps, window=self.window), "speed_w1": M.SpeedW1(fps), "acceleration_w1": M.AccelerationW1(fps),
                "speed_hellinger": M.SpeedHellinger(fps), "spatial_norm": M.SpatialNorm(self.pose(self.mean_pose)),
                "diversity": M.Diversity(self.window), "cluster_f1": M.ClusterF1(self.centroids), "jerk": M.JerkStats(fps),
            }
            if self.bone_edges:
                pos["bone_length_error"] = M.BoneLengthError(self.bone_edges)
        beat_music, beat_motion, bc = alignment.BeatAlignment("music"), alignment.BeatAlignment("motion"), alignment.BeatConsistency()
        pfc = physical.FootContact(fps, self.feet, self.up_axis) if self.feet is not None else None
        fgd = M.FrechetDistance() if self.fgd_net is not None else None
        ftd = M.FrechetDistance() if self.ftd_net is not None else None
        sample_div = M.SampleDiversity(window=self.window) if any(a.ndim == 3 and a.shape[0] > 1 for a in arrays.values()) else None
        speeds, gt_speeds = [], []
        has_audio = False
        for q, t in truth.items():
            g = _first_sample(arrays[q])
            gs, ts = self.scaled(g), self.scaled(t)
            feat["l1"].update(gs, ts)
            feat["mse"].update(gs, ts)
            if fgd is not None:
                from motionlab.analysis.feature_networks import embed_windows

                fgd.update(embed_windows(self.fgd_net, gs, skip_short=True), embed_windows(self.fgd_net, ts, skip_short=True))
            if ftd is not None:
                from motionlab.analysis.feature_networks import embed_windows

                ftd.update(embed_windows(self.ftd_net, gs, skip_short=True), embed_windows(self.ftd_net, ts, skip_short=True))
            if not self.drawable:
                continue
            pg, pt = self.system_positions(name, q, g), self.system_positions("ground_truth", q, t)
            posg, post = self.pose(pg), self.pose(pt)
            pos["mpjpe"].update(pg, pt)
            pos["pck@0.1"].update(posg, post)
            pos["pck@0.2"].update(posg, post)
            pos["fid_pose"].update(posg, post)
            pos["fid_pose_normalised"].update(posg, post)
            for k in ("fid_kinetic", "speed_w1", "acceleration_w1", "speed_hellinger", "jerk"):
                pos[k].update(pg, pt)
            pos["spatial_norm"].update(posg, post)
            pos["diversity"].update(posg)
            pos["cluster_f1"].update(cluster_features(posg), cluster_features(post))
            if "bone_length_error" in pos:
                pos["bone_length_error"].update(pg, pt)
            if sample_div is not None and arrays[q].ndim == 3:
                sample_div.update(np.stack([self.pose(self.positions(s, q)) for s in arrays[q]]))
            if pfc is not None:
                pfc.update(pg)
            speeds.append(M.speed(pg, fps).mean(-1))
            gt_speeds.append(M.speed(pt, fps).mean(-1))
            b = self.beats(q, len(pg))
            if b is not None:
                has_audio = True
                music, onsets = b
                mb = alignment.motion_beats(pg, fps, extrema=self.motion_beat_extrema)
                beat_music.update(music, mb)
                beat_motion.update(music, mb)
                bc.update(onsets, mb)
        out = {k: _value(m) for k, m in feat.items()}
        if fgd is not None:
            out["fgd"] = _value(fgd)
        if ftd is not None:
            out["ftd"] = _value(ftd)
        if self.drawable:
            jerk = pos.pop("jerk").compute()
            out.update({k: _value(m) for k, m in pos.items()})
            out["speed_ratio"] = float(np.concatenate(speeds).mean() / max(np.concatenate(gt_speeds).mean(), 1e-12))
            out["acceleration_ratio"], out["jerk_ratio"] = float(jerk["acceleration_ratio"]), float(jerk["jerk_ratio"])
            if has_audio:
                out["bas_music_beats"], out["bas_motion_beats"], out["beat_consistency"] = _value(beat_music), _value(beat_motion), _value(bc)
            if pfc is not None:
                out["pfc"] = _value(pfc)
            if sample_div is not None:
                out["sample_diversity"] = _value(sample_div)
        if model is not None:
            nll = self.model_nll(model, opt, dataset_split)
            if nll is not None:
                out["nll"] = nll
        if self.style_net is not None:
            out.update(self.style_scores(arrays, truth))
        if self.drawable and not has_audio and "beat metrics skipped" not in " ".join(self.notes):
            self.notes.append("beat metrics skipped: the sequences have no audio files (prepare.json or <seq>.wav beside the features)")
        return out

    def model_nll(self, model, opt, split: str) -> float | None:
        """Test NLL (nats/dim) over the split's training-style windows, for models whose loss terms report one."""
        from motionlab.datasets import find_dataset_using_name

        dataset = find_dataset_using_name(opt.dataset_name)(opt, split)
        if len(dataset) == 0:
            return None
        metric = M.NLL()
        device = next(model.parameters()).device
        with torch.no_grad():
            for batch in torch.utils.data.DataLoader(dataset, batch_size=256):
                batch = {k: ([x.to(device) for x in v] if isinstance(v, list) else v.to(device)) for k, v in batch.items()}
                _, terms = model.compute_loss(batch)
                if "nll_nats_per_dim" not in terms:
                    return None
                metric.update(terms["nll_nats_per_dim"].detach().cpu(), weight=torch.tensor(float(len(batch["outputs"][0]))))
        return float(metric.compute())

    def style_scores(self, arrays, truth) -> dict:
        """Style accuracy / F1 / IS of each evaluated sequence against its own speaker (speakers.json)."""
        speakers = self.folder.speakers()
        labelled = [q for q in truth if q in speakers]
        return self.classified_scores({q: arrays[q] for q in labelled}, {q: speakers[q] for q in labelled})

    def classified_scores(self, arrays: dict, targets: dict, prefix: str = "style") -> dict:
        """``<prefix>_accuracy``, ``_f1`` (macro) and ``_inception_score`` of the classifier's windows of each
        array (unscaled features) against ``targets[key]`` (a style label): the own speaker, or the target
        style of a transfer. Keys whose target the classifier does not know are left out (and said)."""
        from motionlab.analysis.feature_networks import classify_windows

        names = list(self.style_net.data_spec.speaker_names)
        probs, labels = [], []
        for key, a in arrays.items():
            if targets.get(key) not in names:
                continue
            p = classify_windows(self.style_net, self.scaled(_first_sample(a)), skip_short=True)
            probs.append(p)
            labels.append(np.full(len(p), names.index(targets[key])))
        if not probs:
            self.notes.append(f"{prefix} metrics skipped: no evaluated sequence has a {'target ' if prefix != 'style' else ''}speaker the classifier knows")
            return {}
        from sklearn.metrics import f1_score

        p, y = np.concatenate(probs), np.concatenate(labels)
        pred = p.argmax(1)
        marginal = p.mean(0, keepdims=True)
        kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        return {f"{prefix}_accuracy": float((pred == y).mean()), f"{prefix}_f1": float(f1_score(y, pred, average="macro")), f"{prefix}_inception_score": float(np.exp(kl))}

    # ---------------------------------------------------------------- plots

    def plots(self, out_dir: Path, systems: dict, truth: dict) -> list[Path]:
        from motionlab.analysis import alignment, report

        if not self.drawable:
            return []
        out_dir = Path(out_dir)
        speed, acc, errors = {}, {}, {}
        for name, arrays in systems.items():
            s, a, e = [], [], []
            for q, t in truth.items():
                pg = self.system_positions(name, q, arrays[q])
                s.append(M.speed(pg, self.fps).mean(-1))
                a.append(M.acceleration(pg, self.fps).mean(-1))
                if name != "ground_truth":
                    e.append(np.linalg.norm(pg - self.system_positions("ground_truth", q, t), axis=-1))
            speed[name], acc[name] = np.concatenate(s), np.concatenate(a)
            if e:
                errors[name] = np.concatenate(e).mean(0)
        unit = "data units"
        plots = [
            report.plot_histograms(out_dir / "speed_histogram.png", speed, f"mean joint speed ({unit}/s)", "speed per frame"),
            report.plot_histograms(out_dir / "acceleration_histogram.png", acc, f"mean joint acceleration ({unit}/s²)", "acceleration per frame"),
        ]
        if errors:
            plots.append(report.plot_per_joint_error(out_dir / "per_joint_error.png", errors, self.joint_names))
        q = next(iter(truth))
        b = self.beats(q, len(truth[q]))
        if b is not None:
            sp, mb = {}, {}
            for name in ("model", "ground_truth"):
                if name in systems:
                    pg = self.system_positions(name, q, systems[name][q])
                    sp[name] = M.speed(pg, self.fps).mean(-1)
                    mb[name] = alignment.motion_beats(pg, self.fps, extrema=self.motion_beat_extrema)
            plots.append(report.plot_beat_timeline(out_dir / "beat_timeline.png", q, self.fps, sp, b[0], b[1], mb))
        return plots
