"""Audio-visual clues of a trained MCD model: where each question looks, and whether that is where
the asked-about instrument sounds.

MCD's aggregator (:mod:`mcdlib.models.aggregator`) lets the question query the audio and
visual segments twice, at the low level (projected features f_x) and the high level (after
the association blocks, f^_x), then query the text objects. The model returns every map
(``attention``: ``low_<x>``/``high_<x>`` [B, L, T], ``objects_<x>`` [B, L, K']), so the
clues can be read off a forward pass. The pieces here are pure functions, used by notebook 07
and unit-tested on toy tensors:

* :func:`load_run_model` - a run's checkpoint as a model in eval mode, with its data split;
* :func:`collect_clues` / :func:`clues_from_batch` - one :class:`QuestionClues` per question
  (maps restricted to the real question tokens and text objects, per-segment relevance,
  predicted vs true answer);
* :func:`asked_instruments`, :func:`sounding_segments`, :func:`attention_alignment`,
  :func:`alignment_table`, :func:`alignment_summary` - the alignment statistic: the attention
  mass on the segments where an asked-about instrument sounds (scene ground truth), against
  the mass a uniform attention would put there;
* :func:`clue_figure`, :func:`alignment_figure` - figures;
* :func:`choose_video`, :func:`explorer_options`, :func:`explorer_view` - the update logic of
  the notebook's question explorer; :func:`clue_explorer` - the widget
  (:class:`mcdlib.viz.explorer.Explorer`), which only calls these.

CHOICE (mcdlib, not the paper's): a segment's relevance is its attention averaged over the real
question tokens (:func:`mcdlib.models.aggregator.segment_relevance`); an instrument "sounds" in
a segment when its sounding intervals cover at least half of the segment's window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from mcdlib.data.features import segment_indices
from mcdlib.data.music_avqa import Question
from mcdlib.data.templates import INSTRUMENTS
from mcdlib.data.text_cache import keyword_text
from mcdlib.errors import McdError
from mcdlib.models.aggregator import segment_relevance
from mcdlib.scenes.scene import Scene

#: names of the question-over-segments maps: ``<level>_<branch>``
SEGMENT_MAP = re.compile(r"^(?P<level>low|high)_(?P<branch>audio|visual|question)$")
#: names of the question-over-text-objects maps: ``objects_<branch>``
OBJECT_MAP = re.compile(r"^objects_(?P<branch>audio|visual|question)$")
#: a text-object column of the batch: 0 padding, 1 keyword, 2 type label (the batch contract)
KIND_NAMES = {1: "keyword", 2: "type"}
#: the share of a segment's window an instrument must sound in to count as sounding there
SOUNDING_SHARE = 0.5

TokenLabeler = Callable[[Question], list[str]]


# --------------------------------------------------------------------------- one question's clues


@dataclass
class QuestionClues:
    """Everything the model's attention says about one question.

    ``maps[name]`` is [L_real, T] (rows: real question tokens, columns: segments), ``relevance``
    the same names as [T] (mean over the real tokens; each sums to 1 over the segments),
    ``objects[branch]`` [L_real, K_real] (columns: the text objects the model could attend to).
    """

    question_id: int
    video_id: str
    text: str
    cell: tuple[str, str]
    keywords: tuple[str, ...]
    answer: str
    predicted: str
    tokens: list[str]
    maps: dict[str, np.ndarray]
    relevance: dict[str, np.ndarray]
    objects: dict[str, np.ndarray]
    object_labels: list[str]
    segment_seconds: np.ndarray  # [T] start second of each segment
    segment_length: float  # seconds each segment stands for

    @property
    def correct(self) -> bool:
        return self.predicted == self.answer

    @property
    def cell_label(self) -> str:
        return " / ".join(self.cell)

    @property
    def segments(self) -> int:
        return len(self.segment_seconds)

    @property
    def seconds(self) -> float:
        """The span the segments cover (the video's nominal length)."""
        return float(self.segment_seconds[-1] + self.segment_length) if self.segments else 0.0


def question_mask(batch: Mapping[str, torch.Tensor], question_kind: str = "tokens") -> torch.Tensor:
    """[B, L] real-token mask of the question input the model read (``tokens``: ``q_mask``;
    ``lstm``: the non-padding word ids)."""
    if question_kind == "lstm" or "q_mask" not in batch:
        return batch["q_ids"] != 0
    return batch["q_mask"]


def token_labeler(question_kind: str = "tokens", text_model: str = "minilm", source: str = "") -> TokenLabeler:
    """A function giving the labels of a question's real tokens, as the model saw them:
    reference words for the LSTM, MiniLM wordpieces (with [CLS]/[SEP]), CLIP's BPE tokens
    (``source``: the CLIP model's folder, ``data.text_model_source``) or the hash encoder's
    words for frozen token features."""
    if question_kind == "lstm":
        return lambda q: list(q.tokens)
    if text_model == "hash":
        from mcdlib.encoders.text import HashTextEncoder

        return lambda q: HashTextEncoder.words(q.text)
    from mcdlib.encoders.text import get_text_encoder

    tokenizer = get_text_encoder(text_model, source).tokenizer
    return lambda q: tokenizer.convert_ids_to_tokens(tokenizer(q.text)["input_ids"])


def object_labels(question: Question, kinds: Sequence[int]) -> list[str]:
    """Labels of a batch row's real text objects (``kinds``: that row's ``text_objects_kind``):
    the question's keywords then its two type labels, or ``keyword i``/``type i`` when the row
    does not match the question (toy batches)."""
    real = [int(k) for k in kinds if int(k) != 0]
    texts = [keyword_text(k) for k in question.keywords] + list(question.type_labels)
    if len(texts) == len(real):
        return texts
    return [f"{KIND_NAMES.get(k, 'object')} {i}" for i, k in enumerate(real)]


def _labels(labeler: TokenLabeler | None, question: Question, count: int) -> list[str]:
    labels = labeler(question) if labeler is not None else []
    return list(labels[:count]) if len(labels) >= count else [f"t{i}" for i in range(count)]


def clues_from_batch(batch: Mapping[str, torch.Tensor], outputs: Mapping[str, Any], questions: Sequence[Question],
                     answers: Sequence[str], seconds: int | None = None, question_kind: str = "tokens",
                     token_labels: TokenLabeler | None = None) -> list[QuestionClues]:
    """One :class:`QuestionClues` per batch row from a model's ``outputs`` on ``batch``.

    ``questions``: the batch's questions in row order; ``answers``: class index → answer;
    ``seconds``: the nominal video length (default: one second per segment).
    """
    attention = outputs.get("attention") or {}
    segment_maps = {name: m.detach().float().cpu() for name, m in attention.items() if SEGMENT_MAP.match(name)}
    if not segment_maps:
        raise McdError("the model returned no low_/high_ attention maps over segments; audio-visual clues "
                       "need an MCD run (model.name=mcd), e.g. runs/05_train_mcd/mcd")
    object_maps = {OBJECT_MAP.match(n)["branch"]: m.detach().float().cpu()
                   for n, m in attention.items() if OBJECT_MAP.match(n)}
    if len(questions) != len(batch["answer"]):
        raise ValueError(f"{len(questions)} questions for a batch of {len(batch['answer'])} rows")
    mask = question_mask(batch, question_kind).cpu()
    relevance = {name: segment_relevance(m, mask).numpy() for name, m in segment_maps.items()}
    T = next(iter(segment_maps.values())).shape[-1]
    starts = segment_indices(seconds or T, T).astype(float)
    length = (seconds or T) / T
    predicted = outputs["logits"].detach().argmax(-1).cpu().tolist()
    obj_mask = batch["text_objects_mask"].cpu()
    kinds = batch["text_objects_kind"].cpu()
    width = obj_mask.shape[1]  # maps wider than the batch's objects end with the predicted type labels
    extra = list(range(width, max((m.shape[-1] for m in object_maps.values()), default=width)))
    extra_labels = ["predicted scenario", "predicted type"][:len(extra)]
    out = []
    for b, q in enumerate(questions):
        real = mask[b].nonzero().flatten().numpy()
        cols = obj_mask[b].nonzero().flatten().tolist()
        labels = object_labels(q, kinds[b].tolist())
        objects = {branch: m[b][real][:, cols + extra].numpy() for branch, m in object_maps.items()}
        out.append(QuestionClues(
            question_id=q.question_id, video_id=q.video_id, text=q.text, cell=q.cell, keywords=q.keywords,
            answer=q.answer, predicted=answers[predicted[b]], tokens=_labels(token_labels, q, len(real)),
            maps={name: m[b][real].numpy() for name, m in segment_maps.items()},
            relevance={name: r[b] for name, r in relevance.items()}, objects=objects,
            object_labels=labels + extra_labels, segment_seconds=starts, segment_length=length))
    return out


# --------------------------------------------------------------------------- from a run


@dataclass
class RunModel:
    """A trained run ready for inspection: the model (eval mode), its settings, one data split
    and the answer list of its checkpoint."""

    model: torch.nn.Module
    cfg: Any  # mcdlib.config.Config
    dataset: Any  # AVQADataset of the split
    answers: list[str]
    device: torch.device
    run_dir: Path | None = None
    question_kind: str = "tokens"  # the question input the model reads: tokens or lstm


def load_run_model(run_dir: str | Path, split: str = "test", checkpoint: str = "best",
                   data_root: str | Path | None = None, device: str = "cpu", progress: bool = False) -> RunModel:
    """The run's ``checkpoint`` as a model in eval mode, with the ``split`` it will be read on.

    ``data_root`` points the run at its dataset when the run's ``data.root`` is relative to
    another folder or has moved (as in :func:`mcdlib.train.predict.predict`).
    """
    from mcdlib.models.projections import question_input
    from mcdlib.train.predict import load_trained_model
    from mcdlib.train.run_folder import RunFolder

    loaded = load_trained_model(run_dir, split, checkpoint, data_root=data_root, device=device, progress=progress)
    return RunModel(loaded.model.eval(), loaded.cfg, loaded.dataset, loaded.answers, loaded.device,
                    RunFolder(run_dir).root, question_input(loaded.cfg.model, loaded.spec))


@torch.no_grad()
def collect_clues(run: RunModel, indices: Sequence[int] | None = None, batch_size: int = 64,
                  token_labels: TokenLabeler | None = None, progress: bool = False) -> list[QuestionClues]:
    """The clues of the questions at ``indices`` of ``run.dataset`` (default: all), batch by batch."""
    from mcdlib.train.loop import progress_bar, to_device

    indices = list(range(len(run.dataset))) if indices is None else [int(i) for i in indices]
    run.model.eval()
    seconds = getattr(getattr(run.dataset, "data", None), "seconds", None)
    out: list[QuestionClues] = []
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    for chunk in progress_bar(chunks, enabled=progress, desc="attention maps", unit="batch"):
        batch = to_device(run.dataset.batch(chunk), run.device)
        outputs = run.model(batch)
        out += clues_from_batch(batch, outputs, [run.dataset.questions[i] for i in chunk], run.answers, seconds,
                                run.question_kind, token_labels)
    return out


def choose_video(questions: Sequence[Question], video_id: str = "", scenario: str = "Audio-Visual") -> str:
    """``video_id`` when some question is about it, else (when empty) the video of the first
    question of ``scenario``."""
    if video_id:
        if not any(q.video_id == video_id for q in questions):
            raise McdError(f"video_id {video_id!r} has no question in this split; pick one of e.g. "
                           f"{sorted({q.video_id for q in questions})[:5]} (or leave video_id empty)")
        return video_id
    for q in questions:
        if q.scenario == scenario:
            return q.video_id
    raise McdError(f"no {scenario!r} question in this split; give a video_id explicitly")


# --------------------------------------------------------------------------- alignment with the scene


def asked_instruments(keywords: Sequence[str]) -> tuple[str, ...]:
    """The instruments a question names among its keywords (``templ_values``)."""
    return tuple(dict.fromkeys(k for k in keywords if k in INSTRUMENTS))


def sounding_share(intervals: Sequence[tuple[float, float]], start: float, length: float) -> float:
    """The share of the window [start, start + length) covered by sounding ``intervals``."""
    covered = sum(max(0.0, min(end, start + length) - max(s, start)) for s, end in intervals)
    return min(covered / length, 1.0) if length > 0 else 0.0


def sounding_segments(scene: Scene, instruments: Sequence[str], segment_seconds: Sequence[float],
                      segment_length: float = 1.0) -> np.ndarray:
    """[T] bool: whether any player of ``instruments`` (visible or not) sounds for at least
    :data:`SOUNDING_SHARE` of each segment's window."""
    players = [p for p in scene.players if p.instrument in instruments]
    return np.array([any(sounding_share(p.intervals, float(s), segment_length) >= SOUNDING_SHARE for p in players)
                     for s in segment_seconds], dtype=bool)


@dataclass(frozen=True)
class Alignment:
    """How one relevance vector lines up with the sounding segments.

    ``mass``: attention share on sounding segments; ``uniform``: the share a uniform attention
    would put there (= the fraction of sounding segments); ``peak_hit``: whether the most
    attended segment is a sounding one (a uniform random pick hits with probability ``uniform``).
    """

    mass: float
    uniform: float
    peak_hit: bool

    @property
    def lift(self) -> float:
        return self.mass - self.uniform


def attention_alignment(relevance: Sequence[float], sounding: Sequence[bool]) -> Alignment:
    """The :class:`Alignment` of a [T] relevance vector with a [T] sounding mask."""
    r = np.asarray(relevance, dtype=np.float64)
    s = np.asarray(sounding, dtype=bool)
    if r.shape != s.shape:
        raise ValueError(f"relevance has shape {r.shape} but the sounding mask {s.shape}")
    total = r.sum()
    mass = float(r[s].sum() / total) if total > 0 else float(s.mean())
    return Alignment(mass=mass, uniform=float(s.mean()), peak_hit=bool(s[int(r.argmax())]))


def alignment_table(clues: Sequence[QuestionClues], scenes: Mapping[str, Scene] | Callable[[str], Scene]):
    """One row per (question, map) for the questions whose asked instruments sound in some but
    not all segments (elsewhere every attention scores the same as the uniform one): a pandas
    DataFrame with question_id, video_id, cell, instruments, map, level, branch, sounding
    (fraction of sounding segments), mass, uniform, lift, peak_hit."""
    import pandas as pd

    get = scenes if callable(scenes) else scenes.__getitem__
    rows = []
    for c in clues:
        instruments = asked_instruments(c.keywords)
        if not instruments:
            continue
        sounding = sounding_segments(get(c.video_id), instruments, c.segment_seconds, c.segment_length)
        if sounding.all() or not sounding.any():
            continue
        for name, rel in c.relevance.items():
            a = attention_alignment(rel, sounding)
            match = SEGMENT_MAP.match(name)
            rows.append({"question_id": c.question_id, "video_id": c.video_id, "cell": c.cell_label,
                         "instruments": ", ".join(instruments), "map": name, "level": match["level"],
                         "branch": match["branch"], "sounding": float(sounding.mean()), "mass": a.mass,
                         "uniform": a.uniform, "lift": a.lift, "peak_hit": a.peak_hit})
    return pd.DataFrame(rows, columns=["question_id", "video_id", "cell", "instruments", "map", "level", "branch",
                                       "sounding", "mass", "uniform", "lift", "peak_hit"])


def alignment_summary(table, by: str | Sequence[str] = "map"):
    """Means per group of :func:`alignment_table` rows: questions, attention mass on sounding
    segments vs the uniform baseline, their difference, and the peak hit rate (whose uniform
    baseline is the same ``uniform`` column)."""
    import pandas as pd

    columns = ["questions", "mass", "uniform", "lift", "peak_hit_rate"]
    if len(table) == 0:
        return pd.DataFrame(columns=columns)
    grouped = table.groupby(by, sort=True)
    return pd.DataFrame({"questions": grouped["question_id"].nunique(), "mass": grouped["mass"].mean(),
                         "uniform": grouped["uniform"].mean(), "lift": grouped["lift"].mean(),
                         "peak_hit_rate": grouped["peak_hit"].mean()})[columns]


# --------------------------------------------------------------------------- figures


def _edges(clue: QuestionClues) -> np.ndarray:
    return np.append(clue.segment_seconds, clue.segment_seconds[-1] + clue.segment_length)


def clue_caption(clue: QuestionClues, html: bool = False) -> str:
    """One line: question, cell, true and predicted answer, as Markdown (or as HTML for a widget)."""
    if html:
        from html import escape

        bold, code = (lambda s: f"<b>{escape(s)}</b>"), (lambda s: f"<code>{escape(s)}</code>")
        plain = escape
    else:
        bold, code, plain = (lambda s: f"**{s}**"), (lambda s: f"`{s}`"), (lambda s: s)
    mark = "✓" if clue.correct else "✗"
    return (f"{bold(clue.text)} ({plain(clue.cell_label)}; video {code(clue.video_id)}, question "
            f"{clue.question_id}) — answer {bold(clue.answer)}, predicted {bold(clue.predicted)} {mark}")


def clue_figure(clue: QuestionClues, scene: Scene | None = None, pyplot: bool = True):
    """The clues of one question on the scene's time axis: who sounds when (when ``scene`` is
    given), the per-segment relevance of every map, each map as a tokens × seconds heatmap (one
    colour scale for all, from 0, so a near-uniform map looks flat), and the question's
    attention over its text objects. ``pyplot=False``: a figure outside pyplot, for widgets
    (:func:`mcdlib.viz.render.new_figure`)."""
    from mcdlib.viz.render import new_figure
    from mcdlib.viz.scene import timeline_figure

    names = sorted(clue.maps, key=lambda n: (SEGMENT_MAP.match(n)["branch"], SEGMENT_MAP.match(n)["level"] != "low"))
    branches = list(clue.objects)
    cols = max(len(names), 2)
    rows = (1 if scene is not None else 0) + 2 + (1 if branches else 0)
    height = [1.4] * (1 if scene is not None else 0) + [1.3, 0.25 * len(clue.tokens) + 1.0] + \
        ([0.25 * len(clue.tokens) + 1.2] if branches else [])
    fig = new_figure((3.4 * cols, sum(height) + 1.2), pyplot)
    grid = fig.add_gridspec(rows, cols, height_ratios=height)
    row = 0
    edges, span = _edges(clue), (0.0, clue.seconds)
    if scene is not None:
        timeline_figure(scene, ax=fig.add_subplot(grid[row, :]))
        row += 1
    ax = fig.add_subplot(grid[row, :])
    centres = clue.segment_seconds + clue.segment_length / 2
    for name in names:
        ax.plot(centres, clue.relevance[name], marker="o", markersize=3,
                linestyle="-" if SEGMENT_MAP.match(name)["level"] == "high" else "--", label=name)
    ax.axhline(1.0 / clue.segments, color="gray", linewidth=0.8, linestyle=":", label="uniform")
    values = [float(v) for r in clue.relevance.values() for v in r] + [1.0 / clue.segments]
    low, high = min(values), max(values)
    pad = max(high - low, 1e-3)
    ax.set_ylim(low - 0.1 * pad, high + 0.6 * pad)  # headroom for the legend
    ax.set_xlim(*span)
    ax.set_ylabel("relevance")
    ax.set_title("segment relevance (attention averaged over the question tokens)", fontsize=9)
    ax.legend(fontsize=7, ncol=len(names) + 1, loc="upper right")
    row += 1
    top = max(float(m.max()) for m in clue.maps.values()) if clue.tokens else 1.0  # one scale for every map
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[row, i])
        image = ax.pcolormesh(edges, np.arange(len(clue.tokens) + 1), clue.maps[name], cmap="viridis",
                              vmin=0.0, vmax=top, shading="flat")
        ax.set_yticks(np.arange(len(clue.tokens)) + 0.5, clue.tokens, fontsize=7)
        ax.invert_yaxis()
        ax.grid(False)
        ax.set_xlim(*span)
        ax.set_xlabel("seconds")
        ax.set_title(name, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.05)
        if i:
            ax.set_yticklabels([])
    row += 1
    for i, branch in enumerate(branches):
        width = cols // len(branches)
        ax = fig.add_subplot(grid[row, i * width:(i + 1) * width])
        weights = clue.objects[branch]
        image = ax.imshow(weights, aspect="auto", cmap="magma", vmin=0.0)
        ax.grid(False)
        ax.set_xticks(range(len(clue.object_labels)), clue.object_labels, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(clue.tokens)), clue.tokens if i == 0 else [""] * len(clue.tokens), fontsize=7)
        ax.set_title(f"objects_{branch}: tokens → text objects", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.05)
    fig.suptitle(f"{clue.text}\nanswer: {clue.answer} · predicted: {clue.predicted} "
                 f"({'correct' if clue.correct else 'wrong'})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return fig


def alignment_figure(summary, title: str = "attention on the seconds where the asked instrument sounds"):
    """Bars per map of :func:`alignment_summary`: measured attention mass and peak hit rate
    next to the uniform-attention baseline."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.arange(len(summary))
    labels = [str(i) for i in summary.index]
    for ax, column, what in ((axes[0], "mass", "attention mass on sounding segments"),
                             (axes[1], "peak_hit_rate", "most attended segment is sounding")):
        ax.bar(x - 0.2, summary[column], width=0.4, label="model")
        ax.bar(x + 0.2, summary["uniform"], width=0.4, label="uniform attention", color="lightgray")
        ax.set_xticks(x, labels, rotation=20)
        ax.set_ylim(0, 1)
        ax.set_title(what, fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- explorer logic


def explorer_options(clues: Sequence[QuestionClues]) -> list[tuple[str, int]]:
    """Dropdown entries (label, index into ``clues``): id, cell, ✓/✗ and the question."""
    return [(f"{c.question_id} · {c.cell_label} · {'✓' if c.correct else '✗'} · {c.text}", i)
            for i, c in enumerate(clues)]


def explorer_view(clues: Sequence[QuestionClues], index: int,
                  scenes: Mapping[str, Scene] | Callable[[str], Scene] | None = None, dpi: int = 80) -> list:
    """The explorer's view of ``clues[index]``: its caption (HTML) and its clue figure (with the
    scene timeline when ``scenes`` has the video), rendered to PNG outside pyplot
    (a list of :class:`mcdlib.viz.render.Part`)."""
    from mcdlib.viz.render import html_part, png_part

    clue = clues[index]
    scene = None
    if scenes is not None:
        scene = scenes(clue.video_id) if callable(scenes) else scenes.get(clue.video_id)
    return [html_part(clue_caption(clue, html=True)), png_part(clue_figure(clue, scene, pyplot=False), dpi)]


def clue_explorer(clues: Sequence[QuestionClues],
                  scenes: Mapping[str, Scene] | Callable[[str], Scene] | None = None, index: int = 0):
    """The question explorer widget: a dropdown over ``clues`` (:func:`explorer_options`) and
    the chosen question's :func:`explorer_view`; ``display()`` it in a notebook."""
    from mcdlib.viz.explorer import Explorer

    if not clues:
        raise McdError("no questions to explore: the clue list is empty (is the test split empty?)")
    return Explorer(explorer_options(clues), lambda i: explorer_view(clues, i, scenes), value=index,
                    description="question")
