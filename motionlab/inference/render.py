"""Render joint positions (3D skeletons or 2D keypoints) to an mp4, optionally with the audio muxed in.

Speed matters (a generated sequence is thousands of frames), so one figure is drawn once: the static
parts (axes, panes, title) are cached as a background, and per frame only the bone/joint lines are
redrawn onto it (blitting) and the raw RGB buffer is streamed to ffmpeg through a pipe.  No global
matplotlib backend is touched (``Figure`` + ``FigureCanvasAgg``), so importing this module is safe
inside a GUI or a notebook.

The output is written atomically (temporary file beside it, renamed on success), so a failed or
interrupted render never leaves a truncated mp4 nor clobbers an existing one.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import atomic_path

_AXES = {"x": 0, "y": 1, "z": 2}


def _ffmpeg_exe() -> str:
    """The ffmpeg bundled with imageio-ffmpeg: there is no system ffmpeg to rely on."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ----------------------------------------------------------------------------- validation


def _check_positions(positions) -> np.ndarray:
    """Reject what would otherwise fail deep inside matplotlib/ffmpeg with an obscure message."""
    try:
        pos = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise MotionlabError(f"positions: expected a numeric array (T, J, 3) or (T, J, 2), found {type(positions).__name__} ({e})") from None
    if pos.ndim != 3 or pos.shape[-1] not in (2, 3):
        raise MotionlabError(f"positions: expected shape (T, J, 3) or (T, J, 2), found shape {pos.shape}")
    if pos.shape[0] == 0 or pos.shape[1] == 0:
        raise MotionlabError(f"positions: expected at least one frame and one joint, found shape {pos.shape}")
    bad = ~np.isfinite(pos)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        raise MotionlabError(
            f"positions: expected finite values, found NaN/inf in {len(frames)} frame(s) (first: frame {frames[0]}) of shape {pos.shape}"
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


# ----------------------------------------------------------------------------- drawing


class _Scene:
    """One figure, drawn fully once; ``frame(t)`` only redraws the two skeleton artists (blitting)."""

    def __init__(self, pos: np.ndarray, bones: np.ndarray, up_axis: str, title: str | None, size: tuple[int, int], dpi: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.w, self.h = size
        self.fig = Figure(figsize=(self.w / dpi, self.h / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.bones = bones
        if pos.shape[-1] == 3:
            self.pos = self._setup_3d(pos, up_axis)
        else:
            self.pos = pos
            self._setup_2d(pos)
        if title:  # a figure title: a 3D axes' own title would sit outside its full-figure box
            self.fig.suptitle(str(title), fontsize=10, y=0.99, va="top")
            self.fig.subplots_adjust(top=0.93)
        self.bone_line = self.ax.plot(*self._empty(), color="tab:blue", lw=2, solid_capstyle="round")[0]
        self.joint_line = self.ax.plot(*self._empty(), ls="", marker="o", ms=3, color="tab:red")[0]
        # Draw the static parts once with the skeleton hidden, and keep them as the background.
        for art in (self.bone_line, self.joint_line):
            art.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def _empty(self):
        return [[]] * self.pos.shape[-1]

    def _setup_3d(self, pos: np.ndarray, up_axis: str) -> np.ndarray:
        """Reorder to (horizontal, horizontal, up) so mplot3d's z is up; equal scale, limits from the whole sequence."""
        import mpl_toolkits.mplot3d  # noqa: F401  (registers the '3d' projection)

        up = str(up_axis).lower()
        if up not in _AXES:
            raise MotionlabError(f"up_axis: expected one of x, y, z, found {up_axis!r}")
        u = _AXES[up]
        order = [i for i in range(3) if i != u] + [u]  # up=y -> plot (x, z, y)
        pos = pos[..., order]
        self.ax = self.fig.add_subplot(projection="3d")
        self.fig.subplots_adjust(0, 0, 1, 1)
        lo, hi = pos.reshape(-1, 3).min(0), pos.reshape(-1, 3).max(0)
        center, radius = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.05
        self.ax.set_xlim(center[0] - radius, center[0] + radius)
        self.ax.set_ylim(center[1] - radius, center[1] + radius)
        self.ax.set_zlim(center[2] - radius, center[2] + radius)
        self.ax.set_box_aspect((1, 1, 1))
        self.ax.view_init(elev=15, azim=-60)
        for axis in (self.ax.xaxis, self.ax.yaxis, self.ax.zaxis):
            axis.set_ticklabels([])
        return pos

    def _setup_2d(self, pos: np.ndarray) -> None:
        """Image coordinates: y points down, so invert the y axis; equal scale, limits from the whole sequence."""
        self.ax = self.fig.add_subplot()
        self.fig.subplots_adjust(0.02, 0.02, 0.98, 0.98)
        lo, hi = pos.reshape(-1, 2).min(0), pos.reshape(-1, 2).max(0)
        center, radius = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.05
        self.ax.set_xlim(center[0] - radius, center[0] + radius)
        self.ax.set_ylim(center[1] + radius, center[1] - radius)  # inverted: y down
        self.ax.set_aspect("equal", adjustable="box")
        self.ax.set_xticks([])
        self.ax.set_yticks([])

    def frame(self, t: int) -> bytes:
        """The RGB24 bytes of frame ``t``: all bones as one NaN-separated line (one artist, not one per bone)."""
        p = self.pos[t]
        if len(self.bones):
            seg = np.full((len(self.bones), 3, p.shape[-1]), np.nan)
            seg[:, 0] = p[self.bones[:, 0]]
            seg[:, 1] = p[self.bones[:, 1]]
            seg = seg.reshape(-1, p.shape[-1])
            self._set(self.bone_line, seg)
        self._set(self.joint_line, p)
        self.canvas.restore_region(self.background)
        self.ax.draw_artist(self.bone_line)
        self.ax.draw_artist(self.joint_line)
        buf = np.asarray(self.canvas.buffer_rgba())
        return self._fit(buf[..., :3]).tobytes()

    @staticmethod
    def _set(line, pts: np.ndarray) -> None:
        if pts.shape[-1] == 3:
            line.set_data_3d(pts[:, 0], pts[:, 1], pts[:, 2])
        else:
            line.set_data(pts[:, 0], pts[:, 1])

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
    audio_path: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    up_axis: str = "y",
    title: str | None = None,
    size: tuple[int, int] = (480, 480),
    dpi: float = 80,
) -> Path:
    """Render ``positions`` (T, J, 3) or (T, J, 2) to an H.264 mp4 of exactly T frames at ``fps``.

    Bones come from ``parents`` (-1 for the root) or ``edges`` ((i, j) pairs); joints only if neither.
    With ``audio_path``, the audio from ``audio_start`` seconds is muxed (AAC) and cut to T/fps, so the
    video and the motion have the same duration.  Returns the output path.
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
    bones = _bones(pos.shape[1], parents, edges)
    w, h = _even_size(size)
    if audio_path is not None:
        audio_path = Path(audio_path)
        if not audio_path.is_file():
            raise MotionlabError(f"{audio_path}: audio file not found")
        if not np.isfinite(audio_start) or audio_start < 0:
            raise MotionlabError(f"audio_start: expected seconds >= 0, found {audio_start!r}")

    scene = _Scene(pos, bones, up_axis, title, (w, h), dpi)  # before ffmpeg starts: setup errors need no cleanup
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


def probe_duration(path: str | os.PathLike) -> dict:
    """Durations of an mp4's streams, measured by decoding (imageio-ffmpeg ships no ffprobe).

    Returns ``{"duration", "video", "video_frames", "fps", "audio"}`` in seconds (``audio``/``video``
    are None when the stream is absent): video = decoded frames / fps, audio = decoded samples / rate.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionlabError(f"{path}: file not found")
    exe = _ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    if "Invalid data" in info or "Duration:" not in info:
        raise MotionlabError(f"{path}: expected a media file ffmpeg can read, found:\n{info.strip()[-500:]}")
    result = {"duration": None, "video": None, "video_frames": None, "fps": None, "audio": None}
    m = re.search(r"Duration:\s*(\d+):(\d+):([\d.]+)", info)
    if m:
        result["duration"] = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    if re.search(r"Stream #\S+.*: Video:", info):
        m = re.search(r"Stream #\S+.*: Video:.*?([\d.]+) fps", info)
        dec = subprocess.run([exe, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], capture_output=True, text=True).stderr
        frames = re.findall(r"frame=\s*(\d+)", dec)
        if frames:
            result["video_frames"] = int(frames[-1])
        if m:
            result["fps"] = float(m[1])
        if frames and m:
            result["video"] = result["video_frames"] / result["fps"]
    if re.search(r"Stream #\S+.*: Audio:", info):
        rate = 16000
        raw = subprocess.run(
            [exe, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"],
            capture_output=True,
        ).stdout
        result["audio"] = len(raw) / 2 / rate
    return result
