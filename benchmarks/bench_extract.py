"""Benchmark real-video feature extraction: decoding and the full per-video pipeline.

    .venv/bin/python benchmarks/bench_extract.py --videos 4 --threads 2

Writes ``--videos`` MUSIC-AVQA-like videos into a temporary folder (``--seconds`` long, default
60; ``--width`` x ``--height`` at ``--fps``, default 640x360 at 25 fps, a moving picture so
the decoder does real work; 44.1 kHz stereo AAC), then measures:

* decoding alone (:func:`mcdlib.data.video.decode_video`: 1-fps 224x224 frames + 16 kHz mono),
  seconds per video;
* the whole extraction (:func:`mcdlib.encoders.extract.extract_features`: decode, EfficientNet-
  Lite0 frames + grid, logmel audio, writing the three .npy files), seconds per video, with
  ``--threads`` torch threads and ``--decode-workers`` background decoding threads;
* each encoder alone (``--encoders``, default all: efficientnet_lite0, resnet18 (res18 + the
  14x14 pass), clip_vit_b32, clip_vit_l14, logmel, vggish) on ``--frames`` frames / seconds of
  audio, side by side in one run: seconds per 60-second video and the projection for
  MUSIC-AVQA. VGGish, ResNet-18 and CLIP are built from their real configurations with random
  weights (no weights are downloadable here; a network's speed does not depend on its weight
  values). CLIP ViT-L/14 is slow on a CPU: ``--frames`` (default 8) keeps it short.

    .venv/bin/python benchmarks/bench_extract.py --videos 2 --threads 2 --frames 8

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


#: the real configurations of the two CLIP vision towers (text towers are not timed: a tiny one)
CLIP_VISION = {
    "clip_vit_b32": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                         image_size=224, patch_size=32, projection_dim=512),
    "clip_vit_l14": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                         image_size=224, patch_size=14, projection_dim=768),
}


def random_weights(name: str, folder: Path) -> dict:
    """Encoder options pointing at weights with the real architecture and random values."""
    import torch

    if name == "resnet18":
        import torchvision

        path = folder / "resnet18-random.pth"
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
        return {"weights": str(path)}
    if name == "vggish":
        from mcdlib.encoders.vggish import vggish_state_shapes

        path = folder / "vggish-random.pth"
        torch.save({k: torch.randn(s) * 0.02 for k, s in vggish_state_shapes().items()}, path)
        return {"weights": str(path)}
    if name in CLIP_VISION:
        from transformers import CLIPConfig, CLIPModel

        vision = dict(CLIP_VISION[name])
        projection = vision.pop("projection_dim")
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        text = dict(hidden_size=32, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=99,
                    bos_token_id=0, eos_token_id=1, pad_token_id=1)
        model_dir = folder / name
        CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=projection)).save_pretrained(model_dir)
        return {"source": str(model_dir)}
    return {}


def time_encoders(names: list[str], frames: int, threads: int) -> None:
    """Each encoder alone on ``frames`` frames (visual) or seconds (audio), after one warm-up call."""
    import gc

    from mcdlib.encoders.audio import AUDIO_ENCODERS, get_audio_encoder
    from mcdlib.encoders.visual import get_visual_encoder
    from mcdlib.utils.io import torch_threads

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (frames, 224, 224, 3), dtype=np.uint8)
    audio = (rng.standard_normal((1, frames * 16000)) * 0.1).astype(np.float32)
    print(f"\nencoders alone ({threads} torch threads, {frames} frames / seconds each; load before: "
          f"{Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else '?'})")
    print(f"{'encoder':<20}{'s per frame':>12}{'s per 60-s video':>18}{'MUSIC-AVQA (h)':>16}   output per second")
    with tempfile.TemporaryDirectory() as tmp, torch_threads(threads):
        for name in names:
            options = random_weights(name, Path(tmp))
            if name in AUDIO_ENCODERS:
                encoder = get_audio_encoder(name, 16000, **options)
                run = lambda: encoder.encode(audio[:, :16000 * 2])  # noqa: E731 - warm-up
                run()
                start = time.perf_counter()
                out = encoder.encode(audio)
                shape = tuple(out.shape[2:])
            else:
                encoder = get_visual_encoder(name, batch_size=frames, **options)
                encoder.encode(images[:2])
                start = time.perf_counter()
                frame, grid = encoder.encode(images)
                shape = f"{tuple(frame.shape[1:])} + {tuple(grid.shape[1:])}"
            per_frame = (time.perf_counter() - start) / frames
            print(f"{name:<20}{per_frame:>12.3f}{per_frame * 60:>18.2f}{per_frame * 60 * MUSIC_AVQA_VIDEOS / 3600:>16.1f}"
                  f"   {shape}")
            del encoder
            gc.collect()
    print(f"load after: {Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else '?'}")


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
    parser.add_argument("--frames", type=int, default=8, help="frames (seconds of audio) per encoder timing")
    parser.add_argument("--encoders", default="efficientnet_lite0,resnet18,clip_vit_b32,clip_vit_l14,logmel,vggish",
                        help="comma-separated encoders to time alone ('' for none)")
    parser.add_argument("--skip-pipeline", action="store_true", help="only time the encoders alone")
    args = parser.parse_args()
    if args.skip_pipeline:
        time_encoders([n for n in args.encoders.split(",") if n], args.frames, args.threads)
        return

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
    if args.encoders:
        time_encoders([n for n in args.encoders.split(",") if n], args.frames, args.threads)


if __name__ == "__main__":
    main()
