"""Render joint positions (3D skeletons or 2D keypoints) to an mp4, optionally with the audio muxed in.

The camera follows the character (a dancer crossing a room stays large in the frame) over a floor
grid fixed in the world, so travel is still visible; left limbs are red, right limbs blue; an
optional second panel shows the ground truth beside the generated motion.

Speed matters (a generated sequence is thousands of frames), so one figure is drawn once: the static
parts (panel frames, titles) are cached as a background, and per frame only the grid, bone and
joint lines are redrawn onto it (blitting) and the raw RGB buffer is streamed to ffmpeg through a
pipe. The 3-D projection is done here (orthographic), not by mplot3d, so moving the camera per
frame costs nothing.  No global
matplotlib backend is touched (``Figure`` + ``FigureCanvasAgg``), so importing this module is safe
inside a GUI or a notebook.

The output is written atomically (temporary file beside it, renamed on success), so a failed or
interrupted render never leaves a truncated mp4 nor clobbers an existing one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from motionlab.feature_extraction.motion_ops import joint_side
from motionlab.feature_extraction.rotations import axis_vector, default_forward_axis
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import atomic_path

_AXES = {"x": 0, "y": 1, "z": 2}


def _ffmpeg_exe() -> str:
    """The ffmpeg bundled with imageio-ffmpeg: there is no system ffmpeg to rely on."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ----------------------------------------------------------------------------- validation


def _check_positions(positions, what: str = "positions") -> np.ndarray:
    """Reject what would otherwise fail deep inside matplotlib/ffmpeg with an obscure message."""
    try:
        pos = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise MotionlabError(f"{what}: expected a numeric array (T, J, 3) or (T, J, 2), found {type(positions).__name__} ({e})") from None
    if pos.ndim != 3 or pos.shape[-1] not in (2, 3):
        raise MotionlabError(f"{what}: expected shape (T, J, 3) or (T, J, 2), found shape {pos.shape}")
    if pos.shape[0] == 0 or pos.shape[1] == 0:
        raise MotionlabError(f"{what}: expected at least one frame and one joint, found shape {pos.shape}")
    bad = ~np.isfinite(pos)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        raise MotionlabError(
            f"{what}: expected finite values, found NaN/inf in {len(frames)} frame(s) (first: frame {frames[0]}) of shape {pos.shape}"
        )
    return pos


def _bones(n_joints: int, parents, edges) -> np.ndarray:
    """(E, 2) joint index pairs from ``parents`` (-1 = root) or explicit ``edges``; empty for points only."""
    if parents is not None and edges is not None:
        raise MotionlabError("render_video: expected either parents or edges, found both")
    if parents is not None:
        par = list(parents)
        if len(par) != n_joints:
            raise MotionlabError(f"parents: expected {n_joints} entries (one per joint), found {len(par)}")
        pairs = [(int(p), j) for j, p in enumerate(par) if int(p) >= 0]
        src = "parents"
    elif edges is not None:
        pairs = []
        for e in edges:
            e = tuple(e)
            if len(e) != 2:
                raise MotionlabError(f"edges: expected (i, j) pairs, found {e!r}")
            pairs.append((int(e[0]), int(e[1])))
        src = "edges"
    else:
        return np.zeros((0, 2), dtype=np.int64)
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if arr.size and (arr.min() < 0 or arr.max() >= n_joints):
        raise MotionlabError(f"{src}: expected joint indices in [0, {n_joints}), found {int(arr.min())}..{int(arr.max())}")
    return arr


def _even_size(size) -> tuple[int, int]:
    """yuv420p needs even width and height: round each up to the next even number."""
    try:
        w, h = (int(round(float(s))) for s in size)
    except (TypeError, ValueError):
        raise MotionlabError(f"size: expected (width, height) in pixels, found {size!r}") from None
    if w < 2 or h < 2:
        raise MotionlabError(f"size: expected at least 2x2 pixels, found {size!r}")
    return w + (w % 2), h + (h % 2)


def _joint_sides(n_joints: int, joint_names, left_joints, right_joints) -> np.ndarray:
    """Per joint: 1 left, 2 right, 0 centre. Explicit index lists win over names."""
    sides = np.zeros(n_joints, dtype=np.int8)
    if joint_names is not None:
        names = [str(n) for n in joint_names]
        if len(names) != n_joints:
            raise MotionlabError(f"joint_names: expected {n_joints} names (one per joint), found {len(names)}")
        for j, n in enumerate(names):
            sides[j] = {"left": 1, "right": 2}.get(joint_side(n), 0)
    for code, idx, what in ((1, left_joints, "left_joints"), (2, right_joints, "right_joints")):
        if idx is None:
            continue
        idx = np.asarray(list(idx), dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n_joints):
            raise MotionlabError(f"{what}: expected joint indices in [0, {n_joints}), found {int(idx.min())}..{int(idx.max())}")
        sides[idx] = code
    if left_joints is not None and right_joints is not None:
        both = sorted(set(np.asarray(list(left_joints)).tolist()) & set(np.asarray(list(right_joints)).tolist()))
        if both:
            raise MotionlabError(f"left_joints / right_joints: expected disjoint lists, found {both} in both")
    return sides


def _bone_sides(bones: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """A bone is left/right if an end is and the other end is not on the opposite side (hip-to-hip is centre)."""
    out = np.zeros(len(bones), dtype=np.int8)
    for k, (a, b) in enumerate(bones):
        s = {int(sides[a]), int(sides[b])} - {0}
        out[k] = s.pop() if len(s) == 1 else 0
    return out


def _body_size(pos: np.ndarray) -> float:
    """Median over frames of the pose's largest extent: the camera scale (robust to a few wild frames)."""
    extent = (pos.max(axis=1) - pos.min(axis=1)).max(axis=-1)
    size = float(np.median(extent))
    return size if size > 1e-9 else max(float(np.abs(pos).max()), 1.0)


def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time: the camera glides instead of shaking, without lag.

    The ends are padded point-symmetrically (2 x[0] - x[k]), so steady travel is followed exactly
    up to the first and last frame instead of lagging there.
    """
    if sigma_frames <= 0 or len(x) < 2:
        return x
    from scipy.ndimage import gaussian_filter1d

    pad = min(int(4 * sigma_frames) + 1, len(x) - 1)
    padded = np.concatenate([2 * x[:1] - x[pad:0:-1], x, 2 * x[-1:] - x[-2 : -pad - 2 : -1]])
    return gaussian_filter1d(padded, sigma_frames, axis=0, mode="nearest")[pad : pad + len(x)]


def _polyline(segments: np.ndarray) -> np.ndarray:
    """(S, 2, 2) screen segments -> one NaN-separated (3S, 2) polyline: one artist draws them all."""
    out = np.full((len(segments), 3, 2), np.nan)
    out[:, :2] = segments
    return out.reshape(-1, 2)


class _Camera:
    """Orthographic camera that follows the character at a fixed scale.

    3-D: looks from the front-left (azimuth 30 deg from the rest facing direction, elevation 20 deg)
    at the smoothed centre of the pose's bounding box (horizontally; vertically it stays at the take's median centre,
    so jumps show), over a world-fixed floor grid at the feet: the grid slides as the character
    travels. 2-D (image coordinates, y down): follows the smoothed bounding-box centre over a world-fixed grid.
    """

    ELEVATION, AZIMUTH = np.radians(20.0), np.radians(30.0)

    def __init__(self, pos: np.ndarray, up_axis: str, fps: float, smoothing: float, size: float, aspect: float):
        self.dims = pos.shape[-1]
        self.half_h = 0.65 * size
        self.half_w = self.half_h * aspect
        self.spacing = 0.5 * size
        centre = _smooth((pos.min(axis=1) + pos.max(axis=1)) / 2, smoothing * fps)  # bounding-box centre
        if self.dims == 2:
            self.target = centre
            self.basis = np.array([[1.0, 0.0], [0.0, -1.0]])  # screen y up = image y down
            return
        up_axis = str(up_axis).lower()
        if up_axis not in _AXES:
            raise MotionlabError(f"up_axis: expected one of x, y, z, found {up_axis!r}")
        up = axis_vector(up_axis)
        fwd = axis_vector(default_forward_axis(up_axis))
        side = np.cross(up, fwd)
        view = np.cos(self.ELEVATION) * (np.cos(self.AZIMUTH) * fwd + np.sin(self.AZIMUTH) * side) + np.sin(self.ELEVATION) * up
        right = np.cross(-view, up)
        right /= np.linalg.norm(right)
        self.basis = np.stack([right, np.cross(right, -view)], axis=1)  # (3, 2): world -> screen
        heights = pos @ up
        self.floor = float(np.percentile(heights.min(axis=1), 5))
        centre = centre - np.outer(centre @ up, up)
        self.target = centre + up * float(np.median((heights.min(axis=1) + heights.max(axis=1)) / 2))
        self.up, self.fwd, self.side = up, fwd, side

    def project(self, pts: np.ndarray, t: int) -> np.ndarray:
        return (pts - self.target[t]) @ self.basis

    def grid(self, t: int) -> np.ndarray:
        """World-fixed grid lines around the camera target, as screen segments (S, 2, 2)."""
        sp = self.spacing
        reach = 2.0 * max(self.half_w, self.half_h)
        if self.dims == 2:
            axes, base = (np.array([1.0, 0.0]), np.array([0.0, 1.0])), np.zeros(2)
        else:
            axes, base = (self.fwd, self.side), self.up * self.floor
        c = [float(self.target[t] @ a) for a in axes]
        segs = []
        for i, (a, b) in enumerate((axes, axes[::-1])):
            ca, cb = c[i], c[1 - i]
            for k in np.arange(np.floor((ca - reach) / sp), np.ceil((ca + reach) / sp) + 1):
                p = base + a * (k * sp)
                segs.append([p + b * (cb - reach), p + b * (cb + reach)])
        segs = np.asarray(segs)
        return self.project(segs.reshape(-1, self.dims), t).reshape(-1, 2, 2)


_COLOURS = {0: "#404040", 1: "#d62728", 2: "#1f77b4"}  # centre grey, left red, right blue
_GRID_COLOUR = "#cfcfcf"


class _Panel:
    """One skeleton in its own axes, with its own following camera."""

    def __init__(self, ax, pos, bones, bone_sides, camera: _Camera):
        self.ax, self.pos, self.bones, self.camera = ax, pos, bones, camera
        ax.set_xlim(-camera.half_w, camera.half_w)
        ax.set_ylim(-camera.half_h, camera.half_h)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#e0e0e0")
        self.grid = ax.plot([], [], color=_GRID_COLOUR, lw=1)[0]
        self.groups = []
        for code in (0, 2, 1):
            idx = np.flatnonzero(bone_sides == code)
            if len(idx):
                line = ax.plot([], [], color=_COLOURS[code], lw=2.5, solid_capstyle="round")[0]
                self.groups.append((bones[idx], line))
        self.joints = ax.plot([], [], ls="", marker="o", ms=3, color="#202020")[0]
        self.artists = [self.grid] + [line for _, line in self.groups] + [self.joints]
        for art in self.artists:
            art.set_animated(True)

    def draw(self, t: int) -> None:
        self.grid.set_data(*_polyline(self.camera.grid(t)).T)
        p = self.camera.project(self.pos[t], t)
        for pairs, line in self.groups:
            line.set_data(*_polyline(np.stack([p[pairs[:, 0]], p[pairs[:, 1]]], axis=1)).T)
        self.joints.set_data(p[:, 0], p[:, 1])
        for art in self.artists:
            self.ax.draw_artist(art)


class _Scene:
    """One figure of one or two panels, drawn fully once; ``frame(t)`` only redraws the moving artists (blitting)."""

    TITLE_PX = 22

    def __init__(self, panels: list[tuple[np.ndarray, str | None]], bones, bone_sides, up_axis, fps, smoothing, size, dpi):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        pw, ph = size
        self.w, self.h = pw * len(panels), ph
        self.fig = Figure(figsize=(self.w / dpi, self.h / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        titled = any(label for _, label in panels)
        top = 1.0 - (self.TITLE_PX / ph if titled and ph > 3 * self.TITLE_PX else 0.0)
        scale = _body_size(panels[-1][0])  # one scale for all panels (the reference's, when comparing)
        self.panels = []
        for i, (pos, label) in enumerate(panels):
            ax = self.fig.add_axes((i / len(panels), 0.0, 1.0 / len(panels), top))
            camera = _Camera(pos, up_axis, fps, smoothing, scale, aspect=pw / (ph * top))
            self.panels.append(_Panel(ax, pos, bones, bone_sides, camera))
            if label and top < 1.0:  # a frame too small for a title strip goes without
                self.fig.text((i + 0.5) / len(panels), 1.0 - 0.5 * (1 - top), str(label), ha="center", va="center", fontsize=10)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def frame(self, t: int) -> bytes:
        """The RGB24 bytes of frame ``t``."""
        self.canvas.restore_region(self.background)
        for panel in self.panels:
            panel.draw(t)
        buf = np.asarray(self.canvas.buffer_rgba())
        return self._fit(buf[..., :3]).tobytes()

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        """Crop/pad to exactly (h, w): figsize*dpi can round to one pixel off, and ffmpeg needs the exact size."""
        h, w = rgb.shape[:2]
        if (h, w) != (self.h, self.w):
            rgb = rgb[: self.h, : self.w]
            rgb = np.pad(rgb, ((0, self.h - rgb.shape[0]), (0, self.w - rgb.shape[1]), (0, 0)), mode="edge")
        return np.ascontiguousarray(rgb)


# ----------------------------------------------------------------------------- encoding


def render_video(
    positions,
    out_path: str | os.PathLike,
    fps: float,
    *,
    parents: Sequence[int] | None = None,
    edges: Sequence[tuple[int, int]] | None = None,
    joint_names: Sequence[str] | None = None,
    left_joints: Sequence[int] | None = None,
    right_joints: Sequence[int] | None = None,
    compare_positions=None,
    audio_path: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    up_axis: str = "y",
    title: str | None = None,
    size: tuple[int, int] = (480, 480),
    dpi: float = 80,
    camera_smoothing: float = 0.3,
) -> Path:
    """Render ``positions`` (T, J, 3) or (T, J, 2) to an H.264 mp4 of exactly T frames at ``fps``.

    Bones come from ``parents`` (-1 for the root) or ``edges`` ((i, j) pairs); joints only if neither.
    Left limbs are drawn red and right limbs blue, from ``joint_names`` (Left*/L_*/*_l/...) or the
    explicit ``left_joints`` / ``right_joints`` indices (which win). The camera follows the
    character (Gaussian-smoothed over ``camera_smoothing`` seconds) at a fixed scale from the body
    size, over a floor grid fixed in the world. ``compare_positions`` (same shape) adds a second
    panel titled "ground truth" to the right, so the video is twice ``size`` wide; each panel
    follows its own character at the ground truth's scale. ``size`` is one panel (rounded up to
    even numbers). With ``audio_path``, the audio from ``audio_start`` seconds is muxed (AAC) and
    cut to T/fps, so the video and the motion have the same duration. Returns the output path.
    """
    import ffmpeg

    out_path = Path(out_path)
    pos = _check_positions(positions)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise MotionlabError(f"fps: expected a positive number, found {fps!r}") from None
    if not np.isfinite(fps) or fps <= 0:
        raise MotionlabError(f"fps: expected a positive number, found {fps!r}")
    if not np.isfinite(camera_smoothing) or camera_smoothing < 0:
        raise MotionlabError(f"camera_smoothing: expected seconds >= 0, found {camera_smoothing!r}")
    bones = _bones(pos.shape[1], parents, edges)
    bone_sides = _bone_sides(bones, _joint_sides(pos.shape[1], joint_names, left_joints, right_joints))
    panels = [(pos, title)]
    if compare_positions is not None:
        ref = _check_positions(compare_positions, "compare_positions")
        if ref.shape != pos.shape:
            raise MotionlabError(f"compare_positions: expected the shape of positions {pos.shape}, found {ref.shape}")
        panels = [(pos, f"generated: {title}" if title else "generated"), (ref, "ground truth")]
    w, h = _even_size(size)
    if audio_path is not None:
        audio_path = Path(audio_path)
        if not audio_path.is_file():
            raise MotionlabError(f"{audio_path}: audio file not found")
        if not np.isfinite(audio_start) or audio_start < 0:
            raise MotionlabError(f"audio_start: expected seconds >= 0, found {audio_start!r}")

    # before ffmpeg starts: setup errors need no cleanup
    scene = _Scene(panels, bones, bone_sides, up_axis, fps, camera_smoothing, (w, h), dpi)
    w, h = scene.w, scene.h
    n_frames = pos.shape[0]
    duration = n_frames / fps

    with atomic_path(out_path, suffix=".mp4") as tmp:
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        streams = [video]
        out_kw = dict(vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=20, movflags="+faststart", format="mp4")
        if audio_path is not None:
            # -ss/-t on the input: seek, then read exactly the motion's duration.
            streams.append(ffmpeg.input(str(audio_path), ss=float(audio_start), t=duration).audio)
            out_kw.update(acodec="aac", audio_bitrate="128k")
        cmd = (
            ffmpeg.output(*streams, str(tmp), **out_kw)
            .global_args("-hide_banner", "-loglevel", "error", "-nostats")
            .overwrite_output()
        )
        proc = cmd.run_async(pipe_stdin=True, pipe_stderr=True, cmd=_ffmpeg_exe())
        err_chunks: list[bytes] = []
        # Drain stderr concurrently so a chatty ffmpeg can never block on a full pipe while we write.
        reader = threading.Thread(target=lambda: err_chunks.extend(iter(lambda: proc.stderr.read(4096), b"")), daemon=True)
        reader.start()
        broken = False
        try:
            for t in range(n_frames):
                try:
                    proc.stdin.write(scene.frame(t))
                except (BrokenPipeError, OSError):
                    broken = True  # ffmpeg died; its stderr says why
                    break
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                broken = True
            rc = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (e.g. KeyboardInterrupt): do not leave ffmpeg behind
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
        if rc != 0 or broken:
            tail = b"".join(err_chunks).decode("utf-8", "replace").strip().splitlines()[-15:]
            src = f" with audio {audio_path}" if audio_path is not None else ""
            raise MotionlabError(f"{out_path}: ffmpeg failed to encode the video{src} (exit code {rc}):\n" + "\n".join(tail))
    return out_path


# ----------------------------------------------------------------------------- probing
