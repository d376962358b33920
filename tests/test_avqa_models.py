"""Multiple choice in every model (MCD's header and the baselines score option texts the same
way) and AVQA tables in the ablation machinery."""

from __future__ import annotations

import pytest
import torch

from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.errors import ConfigError
from mcdlib.models import build_model, toy_model_config
from mcdlib.models.header import score_options
from mcdlib.train.study import HELD, NOT_TESTED, RunScores, study

MODELS = ("mcd", "qonly", "late", "avst")


@pytest.mark.parametrize("name", MODELS)
def test_multiple_choice_logits_score_the_batch_options(name):
    spec = toy_spec(multiple_choice=True)
    model = build_model(toy_model_config(name=name), spec)
    batch = random_batch(spec, batch_size=6, videos_per_batch=3)
    assert batch["options"].shape == (6, 4, spec.text_dim)
    logits = model(batch)["logits"]
    assert logits.shape == (6, 4)
    swapped = dict(batch, options=batch["options"][:, [1, 0, 2, 3]])
    model.eval()
    with torch.no_grad():
        a, b = model(batch)["logits"], model(swapped)["logits"]
    torch.testing.assert_close(a[:, [1, 0, 2, 3]], b)  # a score belongs to its option, not its position
    with pytest.raises(ConfigError, match="has no 'options'"):
        model({k: v for k, v in batch.items() if k != "options"})


@pytest.mark.parametrize("name", MODELS)
def test_open_ended_models_keep_their_parameters(name):
    """Without multiple choice nothing changes: no option projection, 42 logits, the same keys."""
    model = build_model(toy_model_config(name=name), toy_spec())
    assert not any(key.startswith("options.") or ".options." in key for key in model.state_dict())
    assert model(random_batch(toy_spec(), 4))["logits"].shape == (4, 42)


def test_score_options_is_a_dot_product():
    projection = torch.nn.Identity()
    vector = torch.tensor([[1.0, 2.0]])
    options = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    assert score_options(vector, projection, options).tolist() == [[1.0, 2.0, 3.0]]


def test_study_tables_of_avqa_runs_have_avqa_columns_and_untestable_expectations():
    rows = {"Which": 50.0, "When": 40.0, "relation: Both": 45.0, "Overall": 45.0}
    scores = [RunScores(v, s, {**rows, "Overall": rows["Overall"] + s * 0.3 + (5 if v == "mcd" else 0)}, 60.0, 45.0)
              for v in ("mcd", "late", "inputs_question_visual") for s in (0, 1, 2)]
    report = study(scores)
    assert report.table.columns == ("Which", "When", "relation: Both", "Overall", "train", "val", "gap")
    verdicts = {e.expectation.text: e for e in report.expectations}
    assert verdicts["MCD beats late overall"].verdict == HELD
    audio = verdicts["removing audio (inputs_question_visual) hurts Audio questions most"]
    assert audio.verdict == NOT_TESTED and "no seed with a value" in audio.evidence()
