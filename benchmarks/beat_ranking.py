"""Do the beat metrics rank known cases right on real data? Prints JSON: take x condition x metric, and shift-curve peaks.

For every real take (the ZEGGS speech take and each Dance with Melody take under
``$MOTIONLAB_REAL_DATA/paired``), the ground-truth motion's kinematic beats are scored against

* ``gt``: its own audio (segment from the take's song time of motion frame 0, the motion's length);
* ``shift_<δ>``: the same motion moved by δ ∈ ±0.5, ±1, ±2 s (δ > 0 plays it late);
* ``other``: other takes' audio (dance: the other dance takes; speech: the recorded speech files
  under ``audio/speech``), the mean over them, with ``gt_same_window`` = the ground truth scored on
  the same (shorter) windows for a like-for-like comparison.

Every condition is scored on one window ``[2 s, duration - 2 s]`` of the audio clock (inside the
overlap of every shift), audio beats/onsets from librosa at the file's own rate and motion beats
at the motion's own rate (``motionlab.analysis.alignment``). Metrics: ``bas_music_beats`` (Bailando),
``bas_motion_beats`` (AIST++/FACT), ``bas_f_score`` (both ways, σ 0.05 s), ``beat_consistency``
(EMAGE, σ 0.3 s), ``bc_f_score`` (both ways, σ 0.3 s); each for motion beats at speed minima
(the dance convention) and maxima (gesture strokes). ``offset_curve_peaks``: the offset in
[-2, 2] s where ``alignment_vs_offset`` of the ground truth peaks (≈ 0 for synced data), and the
peak's height above the curve's median. ``summary``: per group (dance mean over takes, zeggs) and
metric, whether gt > both 1-s shifts and gt > other audio. ``dance_tempo_ratio``: per dance take, the
frequency of the strongest peak of the feet's speed spectrum within ±10 % of half the beat rate (one
foot steps every other beat) divided by half the beat rate — 1.0 when the motion keeps the song's
tempo on the import's clock — with the peak's height over the median of 0.4–4.4x that rate (≥ 8: a clear peak) and
``at_band_edge`` (no peak inside the band: the ratio means nothing).

    MOTIONLAB_REAL_DATA=../shared/data/real python benchmarks/beat_ranking.py [--data DIR] [--step 0.04]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SHIFTS = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)
MARGIN = 2.0


def load_takes(root: Path) -> dict:
    """name -> dict(pos (T, J, 3), fps, path, start, group); ZEGGS from its BVH, dance from skeletons.json."""
    from motionlab.feature_extraction.bvh import load_bvh
    from motionlab.utils.errors import MotionlabError

    takes = {}
    for bvh in sorted((root / "paired").glob("zeggs*/*.bvh")):
        wav = bvh.with_suffix(".wav")
        if wav.is_file():
            m = load_bvh(bvh)
            takes[bvh.stem] = dict(pos=m.positions(), fps=1.0 / m.frame_time, path=wav, start=0.0, group="speech")
    for d in sorted((root / "paired").glob("dance_with_melody/*/")):
        if not (d / "skeletons.json").is_file():
            continue
        sk = json.loads((d / "skeletons.json").read_text())
        start = json.loads((d / "config.json").read_text())["start_position"] / 25
        pos = np.asarray(sk["skeletons"], dtype=np.float64) + np.asarray(sk["center"], dtype=np.float64)[:, None]
        takes[d.name] = dict(pos=pos, fps=25.0, path=d / "audio.mp3", start=start, group="dance")
    if not takes:
        raise MotionlabError(f"{root}/paired: no ZEGGS (*.bvh + *.wav) or Dance with Melody take found")
    return takes


def audio_events(path, start: float, duration: float | None) -> dict:
    from motionlab.analysis.alignment import audio_beats, audio_onsets

    return dict(beats=audio_beats(path, start=start, duration=duration), onsets=audio_onsets(path, start=start, duration=duration))


def scores(ev: dict, mb: np.ndarray, lo: float, hi: float) -> dict:
    """The five scores of motion beats ``mb`` (already shifted) against audio events, both cut to [lo, hi)."""
    from motionlab.analysis import alignment as A

    w = lambda x: x[(x >= lo) & (x < hi)]  # noqa: E731
    b, o, k = w(ev["beats"]), w(ev["onsets"]), w(mb)
    nan = float("nan")
    return {
        "bas_music_beats": A.beat_alignment_over_music_beats(b, k) if b.size else nan,
        "bas_motion_beats": A.beat_alignment_over_motion_beats(b, k) if k.size else nan,
        "bas_f_score": A.beat_f_score(b, k, sigma=A.BAS_SIGMA) if b.size else nan,
        "beat_consistency": A.beat_consistency(o, k) if o.size else nan,
        "bc_f_score": A.beat_f_score(o, k) if o.size else nan,
    }


DWM_FEET = [10, 11, 19, 20]  # Dance with Melody foot points (PROVENANCE.md)


def tempo_ratio(pos: np.ndarray, fps: float, beats: np.ndarray) -> dict:
    """Feet-speed periodicity vs half the beat rate (see the module notes); a 2**20-point FFT for a fine peak."""
    speed = np.linalg.norm(np.gradient(pos[:, DWM_FEET], axis=0), axis=-1).mean(1) * fps
    speed = (speed - speed.mean()) / (speed.std() + 1e-12)
    spectrum = np.abs(np.fft.rfft(speed * np.hanning(len(speed)), 1 << 20))
    freq = np.fft.rfftfreq(1 << 20, 1 / fps)
    half_beat = 0.5 * (len(beats) - 1) / (beats[-1] - beats[0])
    band = (freq > 0.9 * half_beat) & (freq < 1.1 * half_beat)
    wide = (freq > 0.4 * half_beat) & (freq < 4.4 * half_beat)
    i = np.argmax(np.where(band, spectrum, -1))
    edge = not (spectrum[i] > spectrum[i - 1] and spectrum[i] > spectrum[i + 1]) or not (band[i - 1] and band[i + 1])
    return {"ratio": float(freq[i] / half_beat), "peak_over_median": float(spectrum[i] / np.median(spectrum[wide])), "at_band_edge": bool(edge)}


def mean_dicts(ds: list[dict]) -> dict:
    return {k: float(np.nanmean([d[k] for d in ds])) for k in ds[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("MOTIONLAB_REAL_DATA"), help="the real data folder (default $MOTIONLAB_REAL_DATA)")
    p.add_argument("--step", type=float, default=0.04, help="offset step (s) of the shift curves")
    args = p.parse_args(argv)
    if not args.data:
        p.error("give --data or set MOTIONLAB_REAL_DATA")
    from motionlab.analysis import alignment as A

    t0 = time.time()
    root = Path(args.data)
    takes = load_takes(root)
    for t in takes.values():
        t["dur"] = len(t["pos"]) / t["fps"]
        t["events"] = audio_events(t["path"], t["start"], t["dur"])
    speech = {q.name: dict(events=audio_events(q, 0.0, None), dur=None) for q in sorted((root / "audio/speech").glob("*")) if q.is_file()}
    for s in speech.values():
        s["dur"] = float(max(s["events"]["onsets"].max(initial=0), s["events"]["beats"].max(initial=0)) + 0.5)

    table, peaks = {}, {}
    offsets = np.round(np.arange(-2.0, 2.0 + args.step / 2, args.step), 6)
    for extrema in A.EXTREMA:
        table[extrema], peaks[extrema] = {}, {}
        for name, t in takes.items():
            mb = A.motion_beats(t["pos"], t["fps"], extrema=extrema)
            lo, hi = MARGIN, t["dur"] - MARGIN
            row = {"gt": scores(t["events"], mb, lo, hi)}
            for d in SHIFTS:
                row[f"shift_{d:+g}"] = scores(t["events"], mb + d, lo, hi)
            others = [(o["events"], o["dur"]) for n, o in takes.items() if n != name and o["group"] == t["group"]]
            if t["group"] == "speech":
                others = [(s["events"], s["dur"]) for s in speech.values()]
            if others:
                row["other"] = mean_dicts([scores(ev, mb, lo, min(hi, d - MARGIN)) for ev, d in others])
                row["gt_same_window"] = mean_dicts([scores(t["events"], mb, lo, min(hi, d - MARGIN)) for _, d in others])
            table[extrema][name] = row
            pk = {}
            for metric, kind, key in (("bas_music_beats", "bas_music_beats", "beats"), ("beat_consistency", "beat_consistency", "onsets"), ("bc_f_score", "beat_f_score", "onsets")):
                curve = A.alignment_vs_offset(t["events"][key], mb, offsets, window=(lo, hi), score=kind)
                i = int(np.nanargmax(curve))
                pk[metric] = {"peak_offset_s": float(offsets[i]), "peak": float(curve[i]), "peak_minus_median": float(curve[i] - np.nanmedian(curve))}
            peaks[extrema][name] = pk

    summary = {}
    for extrema, rows in table.items():
        summary[extrema] = {}
        for group in ("dance", "speech"):
            names = [n for n in rows if takes[n]["group"] == group]
            if not names:
                continue
            g = {}
            for metric in rows[names[0]]["gt"]:
                m = lambda cond: float(np.nanmean([rows[n][cond][metric] for n in names if cond in rows[n]]))  # noqa: E731
                g[metric] = {
                    "gt": m("gt"), "shift_-1": m("shift_-1"), "shift_+1": m("shift_+1"),
                    "max_shift": max(m(f"shift_{d:+g}") for d in SHIFTS),
                    "gt_same_window": m("gt_same_window"), "other": m("other"),
                    "gt_beats_1s_shifts": m("gt") > max(m("shift_-1"), m("shift_+1")),
                    "gt_beats_other_audio": m("gt_same_window") > m("other"),
                    "takes_where_gt_beats_1s_shifts": int(sum(rows[n]["gt"][metric] > max(rows[n]["shift_-1"][metric], rows[n]["shift_+1"][metric]) for n in names)),
                    "takes": len(names),
                }
            summary[extrema][group] = g
    tempo = {n: tempo_ratio(t["pos"], t["fps"], t["events"]["beats"]) for n, t in takes.items() if t["group"] == "dance"}
    print(json.dumps({"seconds": round(time.time() - t0, 1), "summary": summary, "dance_tempo_ratio": tempo, "offset_curve_peaks": peaks, "table": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
