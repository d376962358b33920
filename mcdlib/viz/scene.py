"""Looking at one music scene in a notebook: frames, sound, scene graph, questions and answers.

:func:`show_scene` displays everything about one video of a built music-scenes dataset. The
pieces are pure functions usable (and tested) without a notebook:

* :func:`scene_table` - the scene graph as a table (one row per player, left to right);
* :func:`timeline_figure` - who sounds when (and the voiceover), loudness and rhythm;
* :func:`frame_strip_figure` - the frames at 1 fps;
* :func:`scene_questions` - the video's questions with their answers, from every split;
* :func:`scene_audio` - the mix (from ``media/`` when built with ``--media``, else rendered);
* :func:`scene_view` - all of it as rendered parts (figures made outside pyplot, see
  :mod:`mcdlib.viz.render`), shown by :func:`show_scene` as cell output or by
  :func:`scene_explorer`, the widget of notebook 02 (:class:`mcdlib.viz.explorer.Explorer`).

>>> show_scene("data/music_scenes/tiny", "ms000003")     # in a notebook
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcdlib.errors import McdError
from mcdlib.scenes.frames import render_frame
from mcdlib.scenes.questions import column_of
from mcdlib.scenes.scene import Scene

SPLITS = ("train", "val", "test")


def load_scene(dataset_dir: str | Path, video_id: str) -> Scene:
    """The scene graph ``<dataset>/scenes/<video_id>.json``."""
    path = Path(dataset_dir) / "scenes" / f"{video_id}.json"
    if not path.is_file():
        raise McdError(f"{path}: no scene graph for video_id {video_id!r}; is {dataset_dir} a music-scenes "
                       "dataset built by `mcd data synth`, and is the id right (e.g. ms000000)?")
    return Scene.load(path)


def format_intervals(intervals) -> str:
    return ", ".join(f"{start:g}-{end:g} s" for start, end in intervals) or "silent"


def scene_table(scene: Scene):
    """A pandas DataFrame of the players: visible ones left to right, then off-screen ones."""
    import pandas as pd

    order = sorted(range(len(scene.players)), key=lambda i: (not scene.players[i].visible, scene.players[i].x))
    rows = []
    for i in order:
        p = scene.players[i]
        rows.append({"player": i, "instrument": p.instrument,
                     "position": column_of(p.x) if p.visible else "off-screen",
                     "x": round(p.x, 3), "sounding": format_intervals(p.intervals),
                     "sounding_s": p.sounding_seconds, "loudness_db": p.loudness_db, "rhythm": p.rhythm})
    return pd.DataFrame(rows, columns=["player", "instrument", "position", "x", "sounding", "sounding_s",
                                       "loudness_db", "rhythm"])


def _player_label(scene: Scene, index: int) -> str:
    p = scene.players[index]
    where = column_of(p.x) if p.visible else "off-screen"
    return f"{p.instrument} ({where})"


def timeline_figure(scene: Scene, ax=None, pyplot: bool = True):
    """Horizontal bars of each player's sounding intervals (opacity = loudness) and the voiceover,
    on ``ax`` or a new figure (``pyplot=False``: outside pyplot, for widgets)."""
    from mcdlib.viz.render import new_figure

    table = scene_table(scene)
    labels = [_player_label(scene, i) for i in table["player"]] + (["voiceover"] if scene.voiceover else [])
    if ax is None:
        fig = new_figure((8, 0.45 * len(labels) + 1), pyplot)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    loud = [p.loudness_db for p in scene.players] or [0.0]
    low, high = min(loud), max(loud)
    for row, i in enumerate(table["player"]):
        p = scene.players[i]
        alpha = 0.35 + 0.65 * ((p.loudness_db - low) / (high - low) if high > low else 1.0)
        ax.broken_barh([(s, e - s) for s, e in p.intervals], (row - 0.35, 0.7), alpha=alpha,
                       color="tab:blue" if p.visible else "tab:gray")
        ax.text(scene.seconds + 0.1, row, f"{p.loudness_db:+.0f} dB, {p.rhythm:.1f} notes/s", va="center",
                fontsize=8)
    if scene.voiceover:
        ax.broken_barh([(s, e - s) for s, e in scene.voiceover], (len(table) - 0.35, 0.7), color="tab:orange")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, scene.seconds)
    ax.set_xticks(range(scene.seconds + 1))
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"{scene.video_id}: who sounds when ({scene.backdrop})")
    fig.tight_layout()
    return fig


def frame_strip_figure(scene: Scene, image_size: int = 224, seconds: int | None = None, pyplot: bool = True):
    """The frames at 1 fps side by side (they are identical: players do not show if they sound);
    ``pyplot=False``: a figure outside pyplot, for widgets."""
    from mcdlib.viz.render import new_figure

    frame = render_frame(scene, image_size)
    count = min(scene.seconds, seconds or scene.seconds)
    fig = new_figure((1.3 * count, 1.6), pyplot)
    axes = fig.subplots(1, count, squeeze=False)
    for t, ax in enumerate(axes[0]):
        ax.imshow(frame)
        ax.set_title(f"{t} s", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{scene.video_id}: frames", fontsize=9)
    return fig


def scene_questions(dataset_dir: str | Path, video_id: str, annotations: str = "json"):
    """The video's questions in every split: DataFrame of split, question_id, cell, question, answer."""
    import pandas as pd

    from mcdlib.data.music_avqa import load_split

    rows = []
    for split in SPLITS:
        if not (Path(dataset_dir) / annotations / f"avqa-{split}.json").is_file():
            continue
        for q in load_split(dataset_dir, split, annotations=annotations):
            if q.video_id == video_id:
                rows.append({"split": split, "question_id": q.question_id, "cell": f"{q.scenario} / {q.qtype}",
                             "question": q.text, "answer": q.answer})
    return pd.DataFrame(rows, columns=["split", "question_id", "cell", "question", "answer"])


def scene_audio(dataset_dir: str | Path, scene: Scene, renderer: str = "auto",
                sample_rate: int = 16000) -> tuple[np.ndarray, int]:
    """``(mix, sample_rate)``: ``media/<video_id>.wav`` when present, else rendered now."""
    from mcdlib.scenes.media import media_paths

    wav = media_paths(dataset_dir, scene.video_id).get("wav")
    if wav is not None:
        import soundfile

        wave, rate = soundfile.read(str(wav), dtype="float32")
        return wave, int(rate)
    from mcdlib.scenes.audio import get_renderer

    sound = get_renderer(renderer, sample_rate=sample_rate).render(scene)
    return sound.mix, int(sound.sample_rate)


def scene_caption(scene: Scene, html: bool = False) -> str:
    """One line about the scene: id, players, length, backdrop, voiceover (Markdown or HTML)."""
    visible = sum(p.visible for p in scene.players)
    text = (f"{len(scene.players)} player(s) ({visible} visible), {scene.seconds} s, {scene.backdrop} backdrop"
            + (", with a voiceover" if scene.voiceover else ""))
    return f"<b>{scene.video_id}</b>: {text}" if html else f"**{scene.video_id}**: {text}"


def scene_view(dataset_dir: str | Path, video_id: str, dpi: int = 80) -> list:
    """Everything about one scene as rendered parts (:class:`mcdlib.viz.render.Part`): caption,
    frame strip, the mix (WAV), scene graph table, timeline, the video's questions."""
    from mcdlib.data.features import read_manifest
    from mcdlib.viz.render import html_part, png_part, wav_part

    profile = read_manifest(dataset_dir).get("profile", {})
    scene = load_scene(dataset_dir, video_id)
    wave, rate = scene_audio(dataset_dir, scene, profile.get("renderer", "auto"), profile.get("sample_rate", 16000))
    return [html_part(scene_caption(scene, html=True)),
            png_part(frame_strip_figure(scene, profile.get("image_size", 224), pyplot=False), dpi),
            wav_part(wave, rate),
            html_part(scene_table(scene).to_html(index=False)),
            png_part(timeline_figure(scene, pyplot=False), dpi),
            html_part(scene_questions(dataset_dir, video_id).to_html(index=False))]


def show_scene(dataset_dir: str | Path, video_id: str) -> None:
    """Display one scene in a notebook as cell output: :func:`scene_view`'s parts."""
    from mcdlib.viz.render import show_parts

    show_parts(scene_view(dataset_dir, video_id))


def scene_explorer(dataset_dir: str | Path, video_ids: list[str], video_id: str | None = None):
    """A dropdown over ``video_ids`` showing the chosen scene's :func:`scene_view`;
    ``display()`` it in a notebook."""
    from mcdlib.viz.explorer import Explorer

    if not video_ids:
        raise McdError(f"no videos to explore in {dataset_dir}")
    return Explorer(video_ids, lambda vid: scene_view(dataset_dir, vid), value=video_id or video_ids[0],
                    description="video")
