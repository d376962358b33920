"""Decoding a real video into 1-fps frames and 16 kHz mono audio (PyAV, its bundled FFmpeg).

The reference MUSIC-AVQA features are computed per second: one RGB frame per second for the
visual encoder and one second of 16 kHz audio per feature row. :func:`decode_video` gives
exactly that input:

* ``frames`` uint8 ``[S, size, size, 3]``: for second ``s`` the frame shown at its centre
  (``s + 0.5`` s after the first frame), its short side resized to ``size`` (area
  interpolation) and centre-cropped to a square; seconds after the last frame repeat it;
* ``audio`` float32 ``[S * sample_rate]``: the first audio stream, down-mixed to mono and
  resampled by FFmpeg's resampler, cut or zero-padded to whole seconds (zeros, with
  ``has_audio=False``, for a video without sound);
* ``S`` = the video's length rounded to whole seconds (at least 1), cut at ``max_seconds``
  (60 for MUSIC-AVQA: longer videos keep their first minute).

>>> video = decode_video("videos/00000093.mp4", max_seconds=60)
>>> video.frames.shape, video.audio.shape, video.seconds
((60, 224, 224, 3), (960000,), 60)

A file that cannot be opened or decoded raises :class:`VideoDecodeError` naming the file
and its video id. :func:`find_videos` lists a folder's videos (video id = file stem).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mcdlib.errors import FeatureError

#: file extensions :func:`find_videos` collects (lower case)
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv")
#: side of the square frames given to visual encoders
FRAME_SIZE = 224
#: audio sample rate of the audio encoders (VGGish and logmel are 16 kHz)
SAMPLE_RATE = 16000
#: identifies the decoding rules above: features decoded another way are not comparable
DECODE_VERSION = "decode-1:centre-of-second-frame:short-side-area-resize+centre-crop:mono-flt"


class VideoDecodeError(FeatureError):
    """A video file cannot be opened or decoded (the message names the file and video id)."""


@dataclass(frozen=True)
class DecodedVideo:
    """One video as per-second encoder input (see module doc)."""

    video_id: str
    path: Path
    frames: np.ndarray  # uint8 [S, size, size, 3]
    audio: np.ndarray  # float32 [S * sample_rate]
    sample_rate: int
    duration: float  # seconds of media decoded (before rounding / cutting)
    has_audio: bool

    @property
    def seconds(self) -> int:
        """S, the number of per-second rows."""
        return int(len(self.frames))


def video_id_of(path: str | Path) -> str:
    """The video id of a video file: its name without the extension (``00000093.mp4`` → ``00000093``)."""
    return Path(path).stem


def find_videos(folder: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """The video files directly inside ``folder``, sorted by name.

    Raises FeatureError when the folder is missing, holds no video, or holds two files with
    the same video id (e.g. ``a.mp4`` and ``a.mkv``), which would write the same features.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FeatureError(f"{folder}: no such videos folder; give the folder holding the downloaded "
                           "<video_id>.mp4 files")
    wanted = {e.lower() for e in extensions}
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in wanted)
    if not videos:
        raise FeatureError(f"{folder}: holds no video files ({', '.join(sorted(wanted))}); give the folder "
                           "holding the downloaded <video_id>.mp4 files")
    seen: dict[str, Path] = {}
    for path in videos:
        other = seen.setdefault(video_id_of(path), path)
        if other is not path:
            raise FeatureError(f"{folder}: {other.name} and {path.name} have the same video id "
                               f"{video_id_of(path)!r}; keep one of them")
    return videos


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``(width, height)`` scaled so the short side is ``size`` (the long side at least ``size``)."""
    if width < 1 or height < 1:
        raise ValueError(f"frame size {width}x{height} is empty")
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def square_frame(frame, size: int = FRAME_SIZE) -> np.ndarray:
    """A PyAV video frame as uint8 RGB ``[size, size, 3]``: short side resized, centre-cropped."""
    width, height = resized_size(frame.width, frame.height, size)
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(image[top:top + size, left:left + size])


def _seconds_of(duration: float, max_seconds: int | None) -> int:
    seconds = max(1, int(round(duration)))
    return min(seconds, int(max_seconds)) if max_seconds else seconds


def _fit_audio(chunks: list[np.ndarray], samples: int) -> np.ndarray:
    audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if len(audio) < samples:
        audio = np.pad(audio, (0, samples - len(audio)))
    return np.ascontiguousarray(audio[:samples])


def decode_video(path: str | Path, size: int = FRAME_SIZE, sample_rate: int = SAMPLE_RATE,
                 max_seconds: int | None = None, video_id: str | None = None) -> DecodedVideo:
    """Decode ``path`` into 1-fps square frames and mono audio (see module doc).

    Decoding stops once ``max_seconds`` of both picture and sound are read. Raises
    :class:`VideoDecodeError` for a missing, unreadable or corrupt file, or one without a
    video stream.
    """
    import av

    path = Path(path)
    video_id = video_id or video_id_of(path)
    who = f"{path} (video_id {video_id})"
    if not path.is_file():
        raise VideoDecodeError(f"{who}: video file not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoDecodeError(f"{who}: cannot open the video ({exc}); the file is corrupt or not a video: "
                               "re-download it") from None
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"{who}: the file has no video stream; give a video with picture")
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        astream = container.streams.audio[0] if container.streams.audio else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=int(sample_rate))
        start = float(vstream.start_time * vstream.time_base) if vstream.start_time is not None else 0.0
        fps = float(vstream.average_rate or vstream.guessed_rate or 25)
        frames: list[np.ndarray] = []
        chunks: list[np.ndarray] = []
        audio_samples, last, video_end, count = 0, None, 0.0, 0
        need_samples = max_seconds * sample_rate if max_seconds else None
        streams = [vstream] + ([astream] if astream is not None else [])
        try:
            for frame in container.decode(*streams):
                if isinstance(frame, av.AudioFrame):
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1)
                        chunks.append(chunk)
                        audio_samples += len(chunk)
                else:
                    t = frame.time - start if frame.time is not None else count / fps
                    count += 1
                    while t > len(frames) + 0.5 and (not max_seconds or len(frames) < max_seconds):
                        frames.append(square_frame(last if last is not None else frame, size))
                    last, video_end = frame, max(video_end, t + 1.0 / fps)
                if (max_seconds and len(frames) >= max_seconds
                        and (astream is None or audio_samples >= need_samples)):
                    break
            if astream is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoDecodeError(f"{who}: decoding failed after {count} frames ({exc}); the file is corrupt "
                                   "or truncated: re-download it") from None
    if last is None:
        raise VideoDecodeError(f"{who}: no video frame could be decoded; the file is corrupt or empty: "
                               "re-download it")
    duration = max(video_end, sum(len(c) for c in chunks) / sample_rate)
    seconds = _seconds_of(duration, max_seconds)
    if len(frames) < seconds:
        tail = square_frame(last, size)
        frames.extend([tail] * (seconds - len(frames)))
    return DecodedVideo(video_id=video_id, path=path, frames=np.stack(frames[:seconds]),
                        audio=_fit_audio(chunks, seconds * sample_rate), sample_rate=int(sample_rate),
                        duration=float(duration), has_audio=astream is not None)
