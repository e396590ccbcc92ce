"""Test helper: what an mp4 written by motionlab holds, measured by decoding it with the ffmpeg of imageio-ffmpeg."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg


def probe_duration(path: str | os.PathLike) -> dict:
    """Durations of an mp4's streams, measured by decoding (imageio-ffmpeg ships no ffprobe).

    Returns ``{"duration", "video", "video_frames", "fps", "audio"}`` in seconds (``audio``/``video``
    are None when the stream is absent): video = decoded frames / fps, audio = decoded samples / rate.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    if "Invalid data" in info or "Duration:" not in info:
        raise ValueError(f"{path}: expected a media file ffmpeg can read, found:\n{info.strip()[-500:]}")
    result = {"duration": None, "video": None, "video_frames": None, "fps": None, "audio": None, "size": None}
    m = re.search(r"Duration:\s*(\d+):(\d+):([\d.]+)", info)
    if m:
        result["duration"] = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    if re.search(r"Stream #\S+.*: Video:", info):
        size = re.search(r"Stream #\S+.*: Video:.*?, (\d+)x(\d+)", info)
        result["size"] = (int(size[1]), int(size[2])) if size else None
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
