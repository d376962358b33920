"""Real-video decoding (mcdlib.data.video) and feature extraction (mcdlib.encoders.extract,
data_scripts/extract_features.py) on tiny MP4s with sound written by PyAV in tmp folders."""

from __future__ import annotations

import json
import runpy
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mcdlib.config import DataConfig
from mcdlib.data.features import check_feature_folder, resolve_data_config
from mcdlib.data.video import VideoDecodeError, decode_video, find_videos, resized_size
from mcdlib.encoders.extract import ExtractionSettings, extract_features
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.scenes.media import write_mp4

REPO = Path(__file__).resolve().parents[1]
SECONDS, SAMPLE_RATE = 3, 16000
#: one colour per second (RGB channel s at 200), so the frame picked for each second is checkable
COLOURS = np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200]], dtype=np.uint8)


def write_test_video(path: Path, seconds: int = SECONDS, size: tuple[int, int] = (240, 320),
                     frequency: float = 440.0) -> Path:
    """A ``seconds``-long MP4 (H.264 + AAC, 4 fps) whose second ``s`` is filled with COLOURS[s % 3]."""
    frames = np.zeros((seconds, *size, 3), dtype=np.uint8)
    frames[:] = COLOURS[np.arange(seconds) % 3][:, None, None, :]
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    return write_mp4(path, frames, (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), SAMPLE_RATE)


def write_silent_video(path: Path, seconds: int = 2) -> Path:
    """An MP4 with a video stream only."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=2)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * 2):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 2)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    write_test_video(folder / "00000001.mp4")
    write_test_video(folder / "00000002.mp4", frequency=880.0)
    return folder


@pytest.fixture(scope="module")
def extract_script():
    return runpy.run_path(str(REPO / "data_scripts" / "extract_features.py"))["main"]


# --------------------------------------------------------------------------- decoding


def test_decode_gives_one_frame_per_second_and_16k_mono_audio(videos):
    video = decode_video(videos / "00000001.mp4")
    assert video.video_id == "00000001" and video.seconds == SECONDS and video.has_audio
    assert video.frames.shape == (SECONDS, 224, 224, 3) and video.frames.dtype == np.uint8
    assert video.audio.shape == (SECONDS * SAMPLE_RATE,) and video.audio.dtype == np.float32
    mean_colours = video.frames.reshape(SECONDS, -1, 3).mean(1)
    np.testing.assert_allclose(mean_colours, COLOURS, atol=6)  # the frame of each second, not a neighbour's
    for second in range(SECONDS):  # the 440 Hz tone at amplitude 0.5 in every second (AAC is lossy)
        chunk = video.audio[second * SAMPLE_RATE:(second + 1) * SAMPLE_RATE]
        assert 0.4 < np.abs(chunk).max() < 0.6


def test_decode_cuts_at_max_seconds(videos):
    video = decode_video(videos / "00000002.mp4", max_seconds=2, size=32)
    assert video.frames.shape == (2, 32, 32, 3) and video.audio.shape == (2 * SAMPLE_RATE,)


def test_short_side_is_resized_then_centre_cropped():
    assert resized_size(320, 240, 224) == (299, 224)
    assert resized_size(240, 320, 224) == (224, 299)
    assert resized_size(100, 100, 224) == (224, 224)


def test_video_without_sound_gives_silent_audio(tmp_path):
    video = decode_video(write_silent_video(tmp_path / "mute.mp4"), size=32)
    assert not video.has_audio and video.seconds == 2
    assert video.audio.shape == (2 * SAMPLE_RATE,) and not video.audio.any()


@pytest.mark.parametrize("content", [b"", b"not a video at all", "truncated"])
def test_undecodable_file_error_names_the_file_and_video(tmp_path, videos, content):
    bad = tmp_path / "00000099.mp4"
    bad.write_bytes((videos / "00000001.mp4").read_bytes()[:4000] if content == "truncated" else content)
    with pytest.raises(VideoDecodeError) as info:
        decode_video(bad)
    assert str(bad) in str(info.value) and "video_id 00000099" in str(info.value)


def test_find_videos_sorts_and_rejects_clashing_ids(tmp_path, videos):
    assert [p.name for p in find_videos(videos)] == ["00000001.mp4", "00000002.mp4"]
    with pytest.raises(FeatureError, match="holds no video files"):
        find_videos(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "a.mkv").write_bytes(b"x")
    with pytest.raises(FeatureError, match="same video id 'a'"):
        find_videos(tmp_path)


# --------------------------------------------------------------------------- extraction


def test_extract_script_end_to_end_is_resumable_and_checkable(tmp_path, videos, extract_script, capsys):
    dataset = tmp_path / "dataset"
    assert extract_script(["--videos", str(videos), "--dataset", str(dataset), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 videos extracted, 0 already complete, 0 failed" in out
    shapes = {"effnet": (SECONDS, 1280), "effnet_grid": (SECONDS, 3, 1280), "logmel": (SECONDS, 128)}
    for name, shape in shapes.items():
        for vid in ("00000001", "00000002"):
            array = np.load(dataset / "feats" / name / f"{vid}.npy")
            assert array.shape == shape and array.dtype == np.float32 and np.isfinite(array).all()
    audio = [np.load(dataset / "feats" / "logmel" / f"{v}.npy") for v in ("00000001", "00000002")]
    assert not np.allclose(audio[0], audio[1])  # 440 Hz vs 880 Hz: the audio features tell them apart

    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["features"] == {"audio": "logmel", "visual": "effnet", "visual_grid": "effnet_grid"}
    assert manifest["seconds"] == 60 and manifest["extraction"]["videos"] == 2
    assert manifest["encoders"]["visual"]["name"] == "efficientnet_lite0"
    resolved = resolve_data_config(DataConfig(root=str(dataset)))
    assert (resolved.audio, resolved.visual, resolved.visual_grid) == ("logmel", "effnet", "effnet_grid")
    check = check_feature_folder(dataset / "feats", {"00000001", "00000002"}, seconds=60)
    assert check.ok, check.problems
    assert sorted(row[0] for row in check.rows) == ["effnet", "effnet_grid", "logmel"]

    stamps = {p: p.stat().st_mtime_ns for p in (dataset / "feats").rglob("*.npy")}
    assert extract_script(["--videos", str(videos), "--dataset", str(dataset), "--no-progress"]) == 0
    assert "0 videos extracted, 2 already complete" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten

    broken = dataset / "feats" / "effnet_grid" / "00000002.npy"
    broken.write_bytes(broken.read_bytes()[:200])  # an interrupted copy: re-extracted on the next run
    assert extract_script(["--videos", str(videos), "--dataset", str(dataset), "--no-progress"]) == 0
    assert "1 videos extracted, 1 already complete" in capsys.readouterr().out
    assert np.load(broken).shape == shapes["effnet_grid"]


def test_corrupt_video_stops_extraction_after_saving_the_videos_decoded_before_it(tmp_path, videos, extract_script,
                                                                                 capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "00000001.mp4").symlink_to(videos / "00000001.mp4")
    (folder / "00000005.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 broken")
    (folder / "00000009.mp4").symlink_to(videos / "00000002.mp4")
    dataset = tmp_path / "dataset"
    assert extract_script(["--videos", str(folder), "--dataset", str(dataset), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "00000005.mp4 (video_id 00000005)" in err and "--keep-going" in err and "are saved" in err
    # 00000001 was decoded in the same chunk as the corrupt video: its features were written
    assert sorted(p.name for p in (dataset / "feats" / "effnet").iterdir()) == ["00000001.npy"]
    log = [json.loads(line) for line in (dataset / "extraction_log.jsonl").read_text().splitlines()]
    assert [r["video_id"] for r in log] == ["00000001"] and log[0]["status"] == "written"

    args = ["--videos", str(folder), "--dataset", str(dataset), "--no-progress", "--keep-going",
            "--decode-workers", "1"]  # the background-decoding path
    assert extract_script(args) == 1
    out = capsys.readouterr().out
    assert "1 videos extracted, 1 already complete, 1 failed" in out
    assert "failed videos (1):" in out and "video_id 00000005" in out
    assert "--keep-going" not in out  # it was passed: no advice to pass it
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert list(manifest["extraction"]["failed"]) == ["00000005"]
    assert "--keep-going" not in manifest["extraction"]["failed"]["00000005"]


def test_videos_without_sound_are_recorded_in_the_manifest_and_kept_on_resume(tmp_path, videos, extract_script,
                                                                            capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "00000001.mp4").symlink_to(videos / "00000001.mp4")
    write_silent_video(folder / "00000003.mp4")
    dataset = tmp_path / "dataset"
    args = ["--videos", str(folder), "--dataset", str(dataset), "--no-progress", "--seconds", "2"]
    assert extract_script(args) == 0
    out = capsys.readouterr().out
    assert "1 videos have no audio stream" in out and "00000003" in out
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["extraction"]["no_audio"] == ["00000003"]
    silent = np.load(dataset / "feats" / "logmel" / "00000003.npy")
    np.testing.assert_array_equal(silent[:, :64], -6.0)  # log10 of the floor: silence

    assert extract_script(args) == 0  # resume: nothing extracted, the silent video still recorded
    out = capsys.readouterr().out
    assert "0 videos extracted, 2 already complete" in out
    assert "1 videos have no audio stream" in out and "extracted earlier" in out
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["extraction"]["no_audio"] == ["00000003"]


def test_per_video_timing_is_logged(tmp_path, videos):
    dataset = tmp_path / "dataset"
    report = extract_features(videos, dataset, ExtractionSettings(max_seconds=2, chunk=1), progress=False)
    assert sorted(report.timings) == ["00000001", "00000002"]
    assert "time per video: decode" in report.format()
    log = [json.loads(line) for line in (dataset / "extraction_log.jsonl").read_text().splitlines()]
    assert [r["video_id"] for r in log] == ["00000001", "00000002"]
    for record in log:
        assert record["status"] == "written" and record["seconds"] == 2 and record["has_audio"]
        assert all(record[k] >= 0 for k in ("decode_s", "encode_s", "write_s"))


def test_extraction_refuses_a_folder_of_other_encoder_settings(tmp_path, videos):
    dataset = tmp_path / "dataset"
    report = extract_features(videos, dataset, ExtractionSettings(max_seconds=2, grid=1), limit=1, progress=False)
    assert report.written == ["00000001"] and report.seconds == {2: 1}
    with pytest.raises(FeatureError, match=r"visual\.grid: 1 -> 3"):
        extract_features(videos, dataset, ExtractionSettings(max_seconds=2), limit=1, progress=False)


def test_extraction_settings_are_validated(tmp_path, videos):
    with pytest.raises(ConfigError, match="--limit 0"):
        extract_features(videos, tmp_path / "d", limit=0, progress=False)
    with pytest.raises(FeatureError, match="none of the 2 videos"):
        extract_features(videos, tmp_path / "d", video_ids=["12345678"], progress=False)
    with pytest.raises(ConfigError, match="chunk=0"):
        extract_features(videos, tmp_path / "d", ExtractionSettings(chunk=0), progress=False)


def test_annotated_only_extracts_the_videos_of_the_annotations(tmp_path, videos, extract_script, capsys):
    from mcdlib.data.music_avqa import make_question, write_annotations

    dataset = tmp_path / "dataset"
    question = make_question(1, "00000002", "Is there a <Object> sound?", ["violin"], "yes")
    write_annotations([question], dataset / "json_update" / "avqa-test.json")
    args = ["--videos", str(videos), "--dataset", str(dataset), "--annotated-only", "--seconds", "2", "--no-progress"]
    assert extract_script(args) == 0
    assert "1 videos extracted" in capsys.readouterr().out
    assert [p.name for p in (dataset / "feats" / "effnet").iterdir()] == ["00000002.npy"]
    assert np.load(dataset / "feats" / "logmel" / "00000002.npy").shape == (2, 128)
    assert extract_script(["--videos", str(videos), "--dataset", str(tmp_path / "empty"), "--annotated-only"]) == 2
    assert "prepare_music_avqa.py" in capsys.readouterr().err


# --------------------------------------------------------------------------- the encoders papers use


def test_extract_the_official_kinds_with_resnet18_and_vggish(tmp_path, videos, extract_script, capsys,
                                                             resnet18_random_weights, vggish_random_weights):
    dataset = tmp_path / "dataset"
    args = ["--videos", str(videos), "--dataset", str(dataset), "--no-progress", "--seconds", "2",
            "--visual-encoder", "resnet18", "--visual-weights", str(resnet18_random_weights),
            "--audio-encoder", "vggish", "--audio-weights", str(vggish_random_weights)]
    assert extract_script(args) == 0
    assert "2 videos extracted" in capsys.readouterr().out
    shapes = {"res18": (2, 512), "res18_14x14": (2, 512, 14, 14), "vggish": (2, 128)}
    for name, shape in shapes.items():
        array = np.load(dataset / "feats" / name / "00000001.npy")
        assert array.shape == shape and array.dtype == np.float32 and np.isfinite(array).all()
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["features"] == {"audio": "vggish", "visual": "res18", "visual_grid": "res18_14x14"}
    assert manifest["encoders"]["audio"]["version"].startswith("vggish-2:vggish-random.pth:")
    assert manifest["extraction"]["settings"]["audio_weights"] == str(vggish_random_weights)
    resolved = resolve_data_config(DataConfig(root=str(dataset)))
    assert resolved.features == ["vggish", "res18", "res18_14x14"]
    (dataset / "manifest.json").unlink()  # the official folder names resolve without a manifest too
    assert resolve_data_config(DataConfig(root=str(dataset))).features == ["vggish", "res18", "res18_14x14"]

    assert extract_script(args[:-2]) == 2  # vggish without its weight file: a clear error, nothing written
    assert "vggish-10086976.pth" in capsys.readouterr().err


def test_extract_clip_image_features_as_float16(tmp_path, videos, extract_script, capsys, tiny_clip_folder):
    dataset = tmp_path / "dataset"
    args = ["--videos", str(videos), "--dataset", str(dataset), "--no-progress", "--seconds", "2", "--limit", "1",
            "--visual-encoder", "clip_vit_b32", "--clip-model", str(tiny_clip_folder), "--float16"]
    assert extract_script(args) == 0
    capsys.readouterr()
    frame = np.load(dataset / "feats" / "clip_vit_b32" / "00000001.npy")
    patches = np.load(dataset / "feats" / "clip_vit_b32_patches" / "00000001.npy")
    assert frame.shape == (2, 32) and patches.shape == (2, 16, 24) and frame.dtype == patches.dtype == np.float16
    assert resolve_data_config(DataConfig(root=str(dataset))).features == [
        "logmel", "clip_vit_b32", "clip_vit_b32_patches"]
    assert extract_script(args) == 0  # float16 files count as complete on resume
    assert "0 videos extracted, 1 already complete" in capsys.readouterr().out
    assert extract_script(args[:-1] + ["--grid", "3", "--visual-weights", "x.pth"]) == 2
    assert "takes no weights option" in capsys.readouterr().err
