"""The study protocol (mcdlib.train.study): paired statistics on hand-made numbers, verdicts,
expectations, study.json, the eval-mode train-val gap, ceilings, and the tuning selection step."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from fakes_train import FakeModel, fake_config, fake_datasets
from mcdlib.errors import RunError
from mcdlib.evaluation import REPORT_ROWS
from mcdlib.train import RunFolder, read_metrics, train
from mcdlib.train import study as st
from mcdlib.train.ablate import parse_grid
from mcdlib.train.study import (HELD, KNOWN, NOT_SHOWN, NOT_TESTED, OPPOSITE, OURS, Outcomes, RunScores,
                                paired_bootstrap, paired_difference)

T_975_2 = 4.302652729911275  # Student-t 0.975 quantile, 2 degrees of freedom
T_975_4 = 2.7764451051977987  # 4 degrees of freedom


# --------------------------------------------------------------------------- paired differences over seeds


def test_known_differences_give_the_known_interval():
    d = paired_difference([51.0, 52.0, 53.0], [50.0, 50.0, 50.0])  # differences 1, 2, 3: mean 2, sd 1
    assert d.n == 3 and d.diff_mean == pytest.approx(2.0) and d.sd == pytest.approx(1.0)
    half = T_975_2 * 1.0 / math.sqrt(3)
    assert d.ci95 == pytest.approx((2.0 - half, 2.0 + half))
    assert d.verdict == NOT_SHOWN  # the interval [-0.48, 4.48] includes 0
    five = paired_difference([3.0, 4.0, 5.0, 4.0, 4.0], [0.0] * 5)  # mean 4, sd sqrt(0.5)
    half = T_975_4 * math.sqrt(0.5) / math.sqrt(5)
    assert five.ci95 == pytest.approx((4.0 - half, 4.0 + half)) and five.verdict == HELD
    assert paired_difference([0.0] * 5, [3.0, 4.0, 5.0, 4.0, 4.0]).verdict == OPPOSITE
    narrower = paired_difference([51.0, 52.0, 53.0], [50.0] * 3, confidence=0.80)
    assert narrower.ci95[1] - narrower.ci95[0] < d.ci95[1] - d.ci95[0]


def test_identical_runs_give_a_zero_width_interval():
    same = paired_difference([57.31, 55.02, 58.9], [57.31, 55.02, 58.9])
    assert same.diff_mean == 0.0 and same.ci95 == (0.0, 0.0) and same.verdict == NOT_SHOWN
    shifted = paired_difference([57.3, 55.1, 58.9], [55.3, 53.1, 56.9])  # a constant +2 (float noise aside)
    assert shifted.ci95 == pytest.approx((2.0, 2.0)) and shifted.ci95[0] == shifted.ci95[1] and shifted.verdict == HELD


def test_pairs_align_by_seed_and_small_samples_are_not_verdicts():
    d = paired_difference({0: 60.0, 1: 61.0, 2: None, 3: 70.0}, {1: 60.0, 0: 58.0, 2: 50.0})
    assert d.n == 2 and d.diff_mean == pytest.approx(1.5)  # seeds 0 and 1 only
    one = paired_difference([60.0], [50.0])
    assert (one.diff_mean, one.ci95, one.verdict) == (10.0, (None, None), NOT_SHOWN)
    assert one.describe() == "+10.00, no interval"
    none = paired_difference([], [])
    assert none.verdict == NOT_TESTED and none.describe() == "-"
    with pytest.raises(ValueError, match="one b per a"):
        paired_difference([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- paired bootstrap over questions


def test_bootstrap_on_hand_made_questions():
    same = np.array([1, 0, 1, 1, 0] * 60, dtype=bool)
    zero = paired_bootstrap(same, same, n_boot=500, seed=0)
    assert (zero.diff_mean, zero.ci95, zero.verdict, zero.n) == (0.0, (0.0, 0.0), NOT_SHOWN, 300)
    full = paired_bootstrap(np.ones(50), np.zeros(50), n_boot=200)
    assert full.diff_mean == 100.0 and full.ci95 == (100.0, 100.0) and full.verdict == HELD
    # b = a with 30 of 300 right answers turned wrong: +10 points, sd ~ 100 * sqrt(.1 * .9 / 300) = 1.73
    a = np.ones(300, dtype=bool)
    b = a.copy()
    b[::10] = False
    d = paired_bootstrap(a, b, n_boot=4000, seed=1)
    assert d.diff_mean == pytest.approx(10.0) and d.verdict == HELD
    assert 5.5 < d.ci95[0] < 8.0 and 12.0 < d.ci95[1] < 14.5 and d.sd == pytest.approx(1.73, abs=0.15)
    assert paired_bootstrap(b, a, n_boot=4000, seed=1).verdict == OPPOSITE
    assert paired_bootstrap(a, b, n_boot=300, seed=7) == paired_bootstrap(a, b, n_boot=300, seed=7)  # seeded
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap(a, b[:-1])


def _outcomes(correct: np.ndarray, cells: np.ndarray) -> Outcomes:
    return Outcomes(np.array([f"{i:04d}" for i in range(len(correct))]), correct.astype(bool), cells)


def test_bootstrap_of_rows_and_contrasts():
    cells = np.repeat(np.arange(9), 40)  # 40 questions per cell
    a = np.ones(len(cells), dtype=bool)
    b = a.copy()
    b[cells < 2] = False  # b misses every Audio question (cells 0, 1), nothing else
    ra, rb = RunScores("mcd", 0, {}, None, None, _outcomes(a, cells)), RunScores("x", 0, {}, None, None, _outcomes(b, cells))
    audio = st.bootstrap_runs(ra, rb, "Audio (all)", n_boot=300)
    assert audio.diff_mean == pytest.approx(100.0) and audio.n == len(cells)
    visual = st.bootstrap_runs(ra, rb, "Visual (all)", n_boot=300)
    assert visual.ci95 == (0.0, 0.0) and visual.verdict == NOT_SHOWN
    contrast = st.bootstrap_runs(ra, rb, "drop[Audio (all)] - drop[Visual (all)]", n_boot=300)
    assert contrast.diff_mean == pytest.approx(100.0) and contrast.verdict == HELD
    overall = st.bootstrap_runs(ra, rb, "Overall", n_boot=300)
    assert overall.diff_mean == pytest.approx(100.0 * 80 / 360)
    assert st.bootstrap_runs(ra, rb, "gap") is None  # not a row of the evaluation split


# --------------------------------------------------------------------------- comparisons, expectations, study.json


def _scores(variant, seed, overall, audio=50.0, visual=50.0, av=50.0, train=70.0, val=55.0):
    accuracies = {row.label: None for row in REPORT_ROWS}
    accuracies.update({"Overall": overall, "Audio (all)": audio, "Visual (all)": visual, "Audio-Visual (all)": av})
    return RunScores(variant, seed, accuracies, train, val)


def hand_made_scores():
    seeds = range(5)
    wobble = [0.3, -0.2, 0.1, -0.4, 0.2]  # seed effects shared by every variant (same seeds, same data)
    out = []
    for s in seeds:
        w = wobble[s]
        out.append(_scores("mcd", s, 57 + w, audio=60 + w, visual=60 + w, av=56 + w, train=70 + w, val=56 + w))
        out.append(_scores("late", s, 52 + w + 0.1 * s))  # clearly below: held
        out.append(_scores("qonly", s, 57 + w + (1.0 if s % 2 else -1.0)))  # +-1 around mcd: not shown
        out.append(_scores("inputs_question_only", s, 60 + w))  # clearly above mcd: opposite
        # no audio: drops 10 (Audio), 0.5 (Visual), 4 (AV) -> Audio most: held
        out.append(_scores("inputs_question_visual", s, 54 + w, audio=50 + w, visual=59.5 + w, av=52 + w))
        # no vision: drops -1 (Audio), 2 (Visual), 6 (AV) -> AV most, not Visual: opposite
        out.append(_scores("inputs_question_audio", s, 52 + w, audio=61 + w, visual=58 + w, av=50 + w))
        out.append(_scores("fusion_concat", s, 55 + w, train=78 + w + 0.2 * s, val=55 + w))  # gap 23 vs 14: held
    out.append(_scores("sa_off", 0, 55.0))  # another ablation, a single seed
    return out


def test_verdicts_of_comparisons_and_expectations():
    report = st.study(hand_made_scores(), n_boot=100)
    assert report.comparison("mcd", "late").verdict == HELD
    assert report.comparison("mcd", "qonly").verdict == NOT_SHOWN
    assert report.comparison("mcd", "inputs_question_only").verdict == OPPOSITE
    gap = report.comparison("fusion_concat", "mcd", "gap")
    assert gap.verdict == HELD and gap.t.n == 5 and gap.a_mean == pytest.approx(23.4, abs=0.01)
    sa = report.comparison("mcd", "sa_off")
    assert sa.t.n == 1 and sa.verdict == NOT_SHOWN and not sa.comparison.headline
    assert report.comparison("mcd", "inputs_question_visual", "Audio (all)").t.diff_mean == pytest.approx(10.0)
    verdicts = {e.expectation.text: e for e in report.expectations}
    fusion = verdicts["decision-level fusion (fusion_concat) overfits more than MCD's header: larger train - val gap"]
    assert fusion.verdict == HELD and fusion.expectation.label == KNOWN
    assert verdicts["decision-level fusion (fusion_add) overfits more than MCD's header: larger train - val gap"
                    ].verdict == NOT_TESTED
    assert verdicts["MCD beats late overall"].verdict == HELD
    assert verdicts["MCD beats inputs_question_only overall"].verdict == OPPOSITE
    assert verdicts["removing audio (inputs_question_visual) hurts Audio questions most"].verdict == HELD
    assert verdicts["removing vision (inputs_question_audio) hurts Visual questions most"].verdict == OPPOSITE
    assert "the table lacks avst" in verdicts["MCD beats avst overall"].evidence()
    # only the decision-level fusion claim is the paper's
    assert {e.expectation.label for e in report.expectations if "fusion" in e.expectation.text} == {KNOWN}
    assert {e.expectation.label for e in report.expectations if "fusion" not in e.expectation.text} == {OURS}


def test_study_json_has_every_comparison(tmp_path):
    report = st.study(hand_made_scores(), n_boot=100)
    paths = report.write(tmp_path)
    data = st.read_study(tmp_path)
    assert {"protocol", "dataset", "comparisons", "expectations", "ceilings", "variants"} <= set(data)
    assert len(data["comparisons"]) == len(report.comparisons) >= 10
    for c in data["comparisons"]:
        assert {"a", "b", "metric", "diff_mean", "ci95", "n_seeds", "verdict"} <= set(c)
        assert len(c["ci95"]) == 2 and c["verdict"] in (HELD, NOT_SHOWN, OPPOSITE, NOT_TESTED)
    late = next(c for c in data["comparisons"] if (c["a"], c["b"], c["metric"]) == ("mcd", "late", "Overall"))
    assert late["n_seeds"] == 5 and late["verdict"] == HELD and late["headline"] and late["seeds_wanted"] == 5
    assert late["diff_mean"] == pytest.approx(5 - 0.2, abs=1e-3)  # 5 minus the mean of 0.1 * seed
    md = paths["md"].read_text()
    assert "| mcd | late | Overall |" in md and "| KNOWN |" in md and "| ours |" in md
    assert "No ceilings" in md and "(of 5 wanted)" in md
    assert {e["label"] for e in data["expectations"]} == {KNOWN, OURS}
    back = st.AblationTable.read_csv(paths["csv"])
    assert [r["variant"] for r in back.rows] == [r["variant"] for r in report.table.rows]


# --------------------------------------------------------------------------- the train-val gap, measured right


def test_eval_mode_train_accuracy_at_the_selected_checkpoint(tmp_path):
    data = fake_datasets()
    plain, logged = tmp_path / "plain", tmp_path / "logged"
    train(fake_config(train__epochs=3), plain, datasets=data, model_factory=FakeModel)
    summary = train(fake_config(train__epochs=3, train__eval_train=True), logged, datasets=data, model_factory=FakeModel)
    strip = lambda rs: [{k: r[k] for k in ("epoch", "train", "val", "best")} for r in rs]  # noqa: E731
    assert strip(read_metrics(plain)) == strip(read_metrics(logged))  # the switch changes no weight
    records = read_metrics(logged)
    assert all(r["train_eval"]["n"] == len(data["train"]) for r in records)
    assert "train_eval" not in read_metrics(plain)[0]
    best = next(r for r in records if r["epoch"] == summary["best_epoch"])
    assert summary["train_eval_acc_at_best"] == best["train_eval"]["acc"]
    assert RunFolder(plain).status()["train_eval_acc_at_best"] is None
    # without the switch the same measure comes from the best checkpoint scored on the train split
    assert st.selected_accuracy(plain, "train", dataset=data["train"], model_factory=FakeModel) == \
        pytest.approx(summary["train_eval_acc_at_best"])
    assert RunFolder(plain).scores("train").is_file()
    assert st.selected_accuracy(plain, "val") == RunFolder(plain).status()["best_val_acc"]
    # curves: eval mode when logged, else the running accuracy of the training epoch
    assert st.gap_curve(records) == [r["train_eval"]["acc"] - r["val"]["acc"] for r in records]
    assert st.gap_curve(records, "running") == [r["train"]["acc"] - r["val"]["acc"] for r in records]
    assert st.curve_source(read_metrics(plain)) == "running"
    curves = st.fusion_curves({"plain": plain, "logged": logged})
    assert curves["logged"]["source"] == "eval" and curves["plain"]["source"] == "running"


def test_run_ablation_writes_study_json_and_refuses_other_settings(tmp_path):
    variants = parse_grid({"mcd": [], "fusion_concat": ["model.lambda_con=0.1", "train.eval_train=true"]})
    data = fake_datasets()
    cfg = fake_config(train__epochs=2)
    report = st.run_ablation(variants, cfg, tmp_path, [0, 1], datasets=data, model_factory=FakeModel, n_boot=50)
    assert [r["variant"] for r in report.rows] == ["mcd", "fusion_concat"]
    data_json = json.loads((tmp_path / "study.json").read_text())
    gap = next(c for c in data_json["comparisons"] if c["metric"] == "gap" and c["a"] == "fusion_concat")
    assert gap["n_seeds"] == 2 and gap["ci95"][0] is not None
    mcd = next(s for s in report.scores if s.variant == "mcd" and s.seed == 0)
    mcd_run = RunFolder(tmp_path / "mcd" / "seed0")
    assert mcd.train == json.loads(mcd_run.scores("train").read_text())["rows"]["Overall"]  # scored once, cached
    fusion = next(s for s in report.scores if s.variant == "fusion_concat" and s.seed == 0)
    fusion_run = RunFolder(tmp_path / "fusion_concat" / "seed0")
    assert fusion.train == fusion_run.status()["train_eval_acc_at_best"] and not fusion_run.scores("train").exists()
    assert mcd.gap == pytest.approx(mcd.train - mcd.val) and len(mcd.outcomes.correct) == len(data["test"])
    # the same folder with other settings: refused, nothing retrained
    with pytest.raises(RunError, match=r"other settings than planned.*train.lr"):
        st.run_ablation(variants, fake_config(train__epochs=2, train__lr=0.5), tmp_path, [0, 1], datasets=data,
                        model_factory=FakeModel)


# --------------------------------------------------------------------------- ceilings


def test_ceilings_next_to_each_model(tmp_path, monkeypatch):
    views = {"prior": 40.0, "vision_only": 60.0, "audio_only": 70.0, "perfect": 98.0}
    table = {split: {view: {row.label: value for row in REPORT_ROWS} for view, value in views.items()}
             for split in ("train", "val", "test")}
    dataset = tmp_path / "scenes"
    dataset.mkdir()
    (dataset / "manifest.json").write_text(json.dumps({"format": "music-scenes", "version": 2, "ceilings": table}))
    try:  # the real module (issue 11) reads the manifest's "ceilings"; stand in for it where it is absent
        import mcdlib.scenes.ceilings  # noqa: F401
    except ModuleNotFoundError:
        fake = types.ModuleType("mcdlib.scenes.ceilings")
        def read_ceilings(dataset_dir):  # the interface: {split: {view: {label: %}}} or None
            manifest = Path(dataset_dir) / "manifest.json"
            return json.loads(manifest.read_text()).get("ceilings") if manifest.is_file() else None
        fake.read_ceilings = read_ceilings
        monkeypatch.setitem(sys.modules, "mcdlib.scenes.ceilings", fake)
    report = st.study(hand_made_scores(), n_boot=20, dataset_dir=dataset)
    assert report.dataset["version"] == 2
    mcd = report.ceilings["models"]["mcd"]["Overall"]
    assert mcd["to_perfect"] == pytest.approx(98.0 - 57.0, abs=0.01)
    assert mcd["over_best_single_sense"] == pytest.approx(57.0 - 70.0, abs=0.01)
    assert report.ceilings["views"]["perfect"]["Audio (all)"] == 98.0 and "sa_off" not in report.ceilings["models"]
    md = report.to_markdown()
    assert "| Overall | 40.0 | 60.0 | 70.0 | 98.0 | 57.0 (41.0)" in md
    # a dataset without ceilings: the report says so
    plain = tmp_path / "plain"
    plain.mkdir()
    no = st.study(hand_made_scores(), n_boot=20, dataset_dir=plain)
    assert no.ceilings is None and "No ceilings" in no.to_markdown() and no.to_json()["ceilings_note"]


# --------------------------------------------------------------------------- the selection step


def test_select_configuration_rule():
    assert st.select_configuration([("a", 50.0), ("b", 52.0), ("c", 52.0)]) == 1  # best val; ties: the first
    assert st.select_configuration([("a", 50.0), ("b", None)]) is None  # an incomplete budget picks nothing
    assert st.select_configuration([]) is None
