"""Benchmark real-video feature extraction: decoding and the full per-video pipeline.

    .venv/bin/python benchmarks/bench_extract.py --videos 4 --threads 2

Writes ``--videos`` MUSIC-AVQA-like videos into a temporary folder (``--seconds`` long, default
60; ``--width`` x ``--height`` at ``--fps``, default 640x360 at 25 fps, a moving picture so
the decoder does real work; 44.1 kHz stereo AAC), then measures:

* decoding alone (:func:`mcdlib.data.video.decode_video`: 1-fps 224x224 frames + 16 kHz mono),
  seconds per video;
* the whole extraction (:func:`mcdlib.encoders.extract.extract_features`: decode, EfficientNet-
  Lite0 frames + grid, logmel audio, writing the three .npy files), seconds per video, with
  ``--threads`` torch threads and ``--decode-workers`` background decoding threads.

MUSIC-AVQA has 9,288 videos: the printed projection is the per-video time times 9,288.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from mcdlib.data.video import decode_video
from mcdlib.encoders.extract import ExtractionSettings, extract_features

MUSIC_AVQA_VIDEOS = 9288


def write_moving_video(path: Path, seconds: int, width: int, height: int, fps: int, seed: int) -> None:
    """An H.264 + AAC MP4 with a drifting noise texture and a stereo two-tone sound."""
    import av

    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    rate = 44100
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        for i in range(seconds * fps):
            shift = (i * 4) % width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, shift:shift + width]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        t = np.arange(seconds * rate) / rate
        wave = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
        for start in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, start:start + 1024]).reshape(1, -1),
                                               format="flt", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2, help="torch threads while encoding")
    parser.add_argument("--decode-workers", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        start = time.perf_counter()
        for k in range(args.videos):
            write_moving_video(folder / f"{k:08d}.mp4", args.seconds, args.width, args.height, args.fps, k)
        print(f"wrote {args.videos} videos of {args.seconds} s, {args.width}x{args.height} @ {args.fps} fps "
              f"({time.perf_counter() - start:.1f} s)")

        start = time.perf_counter()
        for path in sorted(folder.glob("*.mp4")):
            decoded = decode_video(path, max_seconds=60)
        decode_s = (time.perf_counter() - start) / args.videos
        print(f"decode only: {decode_s:.2f} s per video -> frames {decoded.frames.shape}, audio {decoded.audio.shape}")

        settings = ExtractionSettings(threads=args.threads, decode_workers=args.decode_workers, chunk=args.chunk)
        extract_features(sorted(folder.glob("*.mp4"))[:1], Path(tmp) / "warmup", settings, progress=False)
        start = time.perf_counter()
        report = extract_features(folder, Path(tmp) / "dataset", settings, progress=False)
        total_s = (time.perf_counter() - start) / args.videos
        assert len(report.written) == args.videos, report.format()
        print(f"full extraction ({args.threads} torch threads, {args.decode_workers} decode workers, "
              f"chunk {args.chunk}): {total_s:.2f} s per video "
              f"({args.seconds / total_s:.1f} video-seconds per second)")
        print(f"projection for MUSIC-AVQA ({MUSIC_AVQA_VIDEOS:,} videos): "
              f"{total_s * MUSIC_AVQA_VIDEOS / 3600:.1f} h on this machine")


if __name__ == "__main__":
    main()
