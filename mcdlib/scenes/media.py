"""Playable media of music scenes: a WAV of the mix and an MP4 with picture and sound.

The features are what models see; media are what people look at and listen to (notebooks,
the scene viewer, checking that a question's answer is right). For each chosen video,
``media/<video_id>.wav`` holds the mix (16-bit PCM, via soundfile) and ``media/<video_id>.mp4``
the frames with the sound (H.264 video + AAC audio through PyAV's bundled FFmpeg, no network).
If MP4 encoding fails on a machine (an FFmpeg build without those encoders), the first frame is
saved as ``media/<video_id>.png`` instead, next to the WAV, and the reason is reported.

>>> files = write_media(scene, "data/music_scenes/tiny/media", renderer, image_size=224)
>>> files.wav, files.video, files.fallback_reason
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from mcdlib.errors import McdError
from mcdlib.scenes.frames import render_frames
from mcdlib.scenes.scene import Scene

MEDIA_DIR = "media"
#: frames per second of the MP4 (the picture changes at most once a second; a few fps keeps players seekable)
VIDEO_FPS = 4
VIDEO_CODEC = "libx264"
AUDIO_CODEC = "aac"


@dataclass(frozen=True)
class MediaFiles:
    """The media written for one video."""

    video_id: str
    wav: Path
    video: Path | None  # the MP4, or None when encoding failed
    frame_png: Path | None  # the still frame, written when the MP4 could not be
    fallback_reason: str = ""


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """A mono float waveform as 16-bit PCM WAV (clipped to [-1, 1])."""
    import soundfile

    path = Path(path)
    soundfile.write(str(path), np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0), int(sample_rate),
                    subtype="PCM_16")
    return path


def write_mp4(path: str | Path, frames: np.ndarray, wave: np.ndarray, sample_rate: int,
              fps: int = VIDEO_FPS) -> Path:
    """An MP4 (H.264 + AAC) of 1-fps ``frames`` uint8 ``[T, H, W, 3]`` and a mono ``wave``.

    Each 1-second frame is shown for ``fps`` video frames. Raises whatever PyAV raises when
    an encoder is missing (callers fall back to PNG + WAV).
    """
    import av

    path = Path(path)
    frames = np.asarray(frames, dtype=np.uint8)
    height, width = frames.shape[1:3]
    wave = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream(VIDEO_CODEC, rate=fps)
        video.width, video.height = width - width % 2, height - height % 2
        video.pix_fmt = "yuv420p"
        audio = container.add_stream(AUDIO_CODEC, rate=int(sample_rate))
        audio.layout = "mono"
        for second in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(second[:video.height, :video.width]),
                                                 format="rgb24")
            for _ in range(fps):
                container.mux(video.encode(picture))
        container.mux(video.encode())
        block = 1024
        for start in range(0, len(wave), block):
            chunk = wave[start:start + block]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = int(sample_rate)
            frame.pts = start
            frame.time_base = Fraction(1, int(sample_rate))
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def write_media(scene: Scene, media_dir: str | Path, renderer, image_size: int = 224) -> MediaFiles:
    """Render one scene's sound and picture and write its WAV and MP4 (or PNG) under ``media_dir``."""
    media_dir = Path(media_dir)
    media_dir.mkdir(parents=True, exist_ok=True)
    sound = renderer.render(scene)
    wav = write_wav(media_dir / f"{scene.video_id}.wav", sound.mix, sound.sample_rate)
    frames = render_frames(scene, image_size)  # follows the camera and light time line (version 2)
    frame = frames[0]
    mp4 = media_dir / f"{scene.video_id}.mp4"
    try:
        write_mp4(mp4, frames, sound.mix, sound.sample_rate)
        return MediaFiles(scene.video_id, wav, mp4, None)
    except Exception as exc:  # noqa: BLE001 - any encoder failure falls back to PNG + WAV
        mp4.unlink(missing_ok=True)
        from PIL import Image

        png = media_dir / f"{scene.video_id}.png"
        Image.fromarray(frame).save(png)
        return MediaFiles(scene.video_id, wav, None, png, f"MP4 encoding failed ({type(exc).__name__}: {exc}); "
                                                          "wrote PNG + WAV instead")


def media_paths(dataset_dir: str | Path, video_id: str) -> dict[str, Path]:
    """Existing media of a video in a built dataset: keys among ``wav``, ``mp4``, ``png``."""
    folder = Path(dataset_dir) / MEDIA_DIR
    found = {ext: folder / f"{video_id}.{ext}" for ext in ("wav", "mp4", "png")}
    return {ext: path for ext, path in found.items() if path.is_file()}


def check_media_count(media: int, videos: int) -> int:
    """Validate ``--media K`` against the dataset size (0 <= K <= videos)."""
    if media < 0 or media > videos:
        raise McdError(f"--media {media}: the dataset has {videos} videos; choose K between 0 and {videos} "
                       f"(or raise the number of videos with --set videos=N)")
    return int(media)
