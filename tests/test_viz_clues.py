"""mcdlib.viz.clues on toy tensors: clues from a forward pass, the alignment statistic, figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mcdlib.data.music_avqa import make_question
from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.errors import McdError
from mcdlib.models import build_model, toy_model_config
from mcdlib.scenes.scene import Player, Scene
from mcdlib.viz.clues import (QuestionClues, RunModel, alignment_figure, alignment_summary, alignment_table,
                              asked_instruments, attention_alignment, choose_video, clue_caption, clue_explorer,
                              clue_figure, clues_from_batch, collect_clues, explorer_options, explorer_view,
                              object_labels, question_mask, sounding_segments, sounding_share, token_labeler)
from mcdlib.viz.render import ink_share, pictures_differ

ANSWERS = [f"answer{i}" for i in range(42)]
MAPS = {"low_audio", "high_audio", "low_visual", "high_visual"}


def questions(n: int = 3) -> list:
    templates = [("Is the <Object> louder than the <Object>?", ["violin", "piano"]),
                 ("Is there a voiceover?", []),
                 ("Which <Object> makes the sound <FL>?", ["drum", "first"])]
    return [make_question(i, f"v{i % 2}", *templates[i % 3], answer="yes") for i in range(n)]


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    spec = toy_spec(segments=4)
    model = build_model(toy_model_config(), spec).eval()
    batch = random_batch(spec, batch_size=3)
    with torch.no_grad():
        out = model(batch)
    return spec, model, batch, out


def test_clues_from_batch_shapes_and_answers(toy):
    spec, _, batch, out = toy
    clues = clues_from_batch(batch, out, questions(), ANSWERS, seconds=8)
    assert len(clues) == 3
    for b, c in enumerate(clues):
        real = int(batch["q_mask"][b].sum())
        n_objects = int(batch["text_objects_mask"][b].sum())
        assert set(c.maps) == MAPS and set(c.relevance) == MAPS
        assert all(m.shape == (real, 4) for m in c.maps.values())
        assert all(np.isclose(r.sum(), 1.0, atol=1e-5) for r in c.relevance.values())
        assert set(c.objects) == {"audio", "visual"}
        assert all(m.shape == (real, n_objects) for m in c.objects.values())
        assert len(c.object_labels) == n_objects and len(c.tokens) == real
        assert c.predicted == ANSWERS[int(out["logits"][b].argmax())]
        np.testing.assert_allclose(c.relevance["high_audio"],
                                   out["attention"]["high_audio"][b][batch["q_mask"][b]].mean(0).numpy(), atol=1e-6)
    assert list(clues[0].segment_seconds) == [0, 2, 4, 6] and clues[0].segment_length == 2.0
    assert clues[0].seconds == 8.0 and clues[0].cell == ("Audio", "Comparative")


def test_predicted_type_objects_are_labelled(toy):
    spec, _, batch, _ = toy
    model = build_model(toy_model_config(types_source="predicted"), spec).eval()
    with torch.no_grad():
        out = model(batch)
    clue = clues_from_batch(batch, out, questions(), ANSWERS)[0]
    assert clue.object_labels[-2:] == ["predicted scenario", "predicted type"]
    assert clue.objects["audio"].shape[1] == len(clue.object_labels)


def test_models_without_segment_maps_are_refused(toy):
    spec, _, batch, _ = toy
    qonly = build_model(toy_model_config(name="qonly"), spec).eval()
    with pytest.raises(McdError, match="MCD run"):
        clues_from_batch(batch, qonly(batch), questions(), ANSWERS)


def test_question_mask_and_token_labels(toy):
    _, _, batch, _ = toy
    assert torch.equal(question_mask(batch, "tokens"), batch["q_mask"])
    assert torch.equal(question_mask(batch, "lstm"), batch["q_ids"] != 0)
    q = questions(1)[0]
    assert token_labeler("lstm")(q) == list(q.tokens)
    assert token_labeler("tokens", "hash")(q)[:3] == ["is", "the", "violin"]


def test_object_labels_follow_the_question_when_they_match():
    q = questions(1)[0]
    assert object_labels(q, [1, 1, 2, 2, 0]) == ["violin", "piano", "Audio", "Comparative"]
    assert object_labels(q, [1, 2, 0]) == ["keyword 0", "type 1"]


@pytest.fixture
def scene() -> Scene:
    return Scene("v0", 10, [Player("violin", 0.2, intervals=[(0.0, 2.5), (6.0, 8.0)]),
                            Player("piano", 0.7, intervals=[(0.0, 10.0)]),
                            Player("drum", 0.5, visible=False, intervals=[(3.2, 3.4)])])


def test_sounding_segments_from_the_scene(scene):
    assert sounding_share([(0.0, 2.5)], 2.0, 1.0) == pytest.approx(0.5)
    assert sounding_share([(0.0, 2.5)], 3.0, 1.0) == 0.0
    starts = np.arange(10)
    assert sounding_segments(scene, ["violin"], starts).tolist() == [True, True, True, False, False, False,
                                                                     True, True, False, False]
    assert not sounding_segments(scene, ["drum"], starts).any()  # 0.2 s is less than half a segment
    assert sounding_segments(scene, ["violin"], [0, 5], 5.0).tolist() == [True, False]
    assert asked_instruments(("violin", "left", "violin", "piano")) == ("violin", "piano")


def test_attention_alignment_against_uniform():
    sounding = [True, False, False, True]
    peaked = attention_alignment([0.7, 0.1, 0.1, 0.1], sounding)
    assert peaked.mass == pytest.approx(0.8) and peaked.uniform == 0.5 and peaked.peak_hit
    assert peaked.lift == pytest.approx(0.3)
    flat = attention_alignment([0.25] * 4, sounding)
    assert flat.mass == pytest.approx(flat.uniform)
    assert not attention_alignment([0.1, 0.7, 0.1, 0.1], sounding).peak_hit
    with pytest.raises(ValueError, match="shape"):
        attention_alignment([1.0, 0.0], sounding)


def make_clue(qid: int, keywords: tuple, relevance: list[float], answer="yes", predicted="yes") -> QuestionClues:
    rel = np.asarray(relevance)
    T = len(rel)
    return QuestionClues(question_id=qid, video_id="v0", text=f"question {qid}?", cell=("Audio", "Counting"),
                         keywords=keywords, answer=answer, predicted=predicted, tokens=["a", "b"],
                         maps={"high_audio": np.tile(rel, (2, 1)), "low_visual": np.tile(rel[::-1], (2, 1))},
                         relevance={"high_audio": rel, "low_visual": rel[::-1]},
                         objects={"audio": np.full((2, 2), 0.5)}, object_labels=["violin", "Audio"],
                         segment_seconds=np.arange(T, dtype=float), segment_length=1.0)


def test_alignment_table_and_summary(scene):
    peak_on_violin = [0.5, 0.5] + [0.0] * 8
    clues = [make_clue(1, ("violin",), peak_on_violin),
             make_clue(2, ("piano",), peak_on_violin),  # always sounding: uninformative, skipped
             make_clue(3, (), peak_on_violin)]  # no instrument asked: skipped
    table = alignment_table(clues, {"v0": scene})
    assert table["question_id"].tolist() == [1, 1]
    high = table[table["map"] == "high_audio"].iloc[0]
    assert high["mass"] == pytest.approx(1.0) and high["uniform"] == pytest.approx(0.5) and high["peak_hit"]
    low = table[table["map"] == "low_visual"].iloc[0]  # reversed relevance: peaks on seconds 8-9, silent
    assert low["mass"] == pytest.approx(0.0) and not low["peak_hit"]
    summary = alignment_summary(table)
    assert list(summary.index) == ["high_audio", "low_visual"]
    assert summary.loc["high_audio", "lift"] == pytest.approx(0.5) and summary.loc["high_audio", "questions"] == 1
    assert len(alignment_summary(alignment_table(clues[1:], lambda vid: scene))) == 0
    plt.close(alignment_figure(summary))


def test_choose_video():
    qs = questions(3)  # cells: Audio, Audio-Visual (voiceover), Audio-Visual; videos v0, v1, v0
    assert choose_video(qs) == "v1"
    assert choose_video(qs, "v0") == "v0"
    with pytest.raises(McdError, match="'v9'"):
        choose_video(qs, "v9")
    with pytest.raises(McdError, match="no 'Visual' question"):
        choose_video(qs, scenario="Visual")


def test_figures_and_explorer(toy, scene):
    spec, _, batch, out = toy
    clues = clues_from_batch(batch, out, questions(), ANSWERS, seconds=8)
    fig = clue_figure(clues[0], scene)
    titles = [ax.get_title() for ax in fig.axes]
    assert {"low_audio", "high_audio", "low_visual", "high_visual"} <= set(titles)
    assert any(t.startswith("objects_audio") for t in titles)
    plt.close(fig)
    options = explorer_options(clues)
    assert [i for _, i in options] == [0, 1, 2] and options[0][0].startswith("0 · Audio / Comparative")
    caption, picture = explorer_view(clues, 1, {"v0": scene})
    assert caption.kind == "html" and f"question {clues[1].question_id})" in caption.value
    assert "**" not in caption.value and f"<b>{clues[1].text}</b>" in caption.value
    assert picture.kind == "png" and ink_share(picture.value) > 0.05
    assert plt.get_fignums() == []  # built outside pyplot: no inline hook can draw or close it
    assert clue_caption(clues[1]).startswith(f"**{clues[1].text}**")


def test_clue_explorer_follows_its_dropdown(toy, scene):
    spec, _, batch, out = toy
    clues = clues_from_batch(batch, out, questions(), ANSWERS, seconds=8)
    explorer = clue_explorer(clues, {"v0": scene})
    first = explorer.parts_on_screen()
    assert explorer.shown == 0 and clues[0].text in first[0].value
    explorer.dropdown.value = 2
    caption, picture = explorer.parts_on_screen()
    assert explorer.shown == 2 and clues[2].text in caption.value
    assert pictures_differ(picture.value, first[1].value) and ink_share(picture.value) > 0.05
    assert plt.get_fignums() == []
    with pytest.raises(McdError, match="no questions"):
        clue_explorer([])


class ToyDataset:
    """The part of AVQADataset that collect_clues uses, over one random batch."""

    def __init__(self, spec, n: int):
        self.full = random_batch(spec, batch_size=n)
        self.questions = questions(n)

    def __len__(self) -> int:
        return len(self.questions)

    def batch(self, indices):
        idx = torch.as_tensor(list(indices))
        return {k: v[idx] for k, v in self.full.items()}


def test_collect_clues_batches_like_one_forward(toy):
    spec, model, _, _ = toy
    data = ToyDataset(spec, 5)
    run = RunModel(model, cfg=None, dataset=data, answers=ANSWERS, device=torch.device("cpu"))
    chunked = collect_clues(run, batch_size=2)
    with torch.no_grad():
        whole = clues_from_batch(data.full, model(data.full), data.questions, ANSWERS)
    assert [c.question_id for c in chunked] == [0, 1, 2, 3, 4]
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a.relevance["low_visual"], b.relevance["low_visual"], atol=1e-5)
        assert a.predicted == b.predicted
