"""The issue's expectations checked against hand-made ablation tables, and tables read back from CSV."""

from __future__ import annotations

import pytest

from mcdlib.errors import McdError
from mcdlib.train.ablate import ACCURACY_COLUMNS, GAP_COLUMNS, AblationTable
from mcdlib.train.expectations import (HELD, NOT_HELD, NOT_TESTED, check_expectations, expectations_markdown)


def row(variant, seeds=3, std=1.0, overall=50.0, audio=50.0, visual=50.0, av=50.0, gap=10.0):
    values = {"Overall": overall, "Audio (all)": audio, "Visual (all)": visual, "Audio-Visual (all)": av,
              "gap": gap}
    out = {"variant": variant, "seeds": seeds}
    for column in ACCURACY_COLUMNS + GAP_COLUMNS:
        out[column] = (values[column], std) if column in values else (None, None)
    return out


def full_table():
    return AblationTable([
        row("mcd", overall=57.0, audio=60.0, visual=60.0, av=56.0, gap=15.0),
        row("late", overall=52.0),
        row("qonly", overall=37.0),
        row("inputs_question_only", overall=58.0, std=0.5),  # beats mcd: the check must say so
        row("inputs_question_visual", audio=50.0, visual=59.5, av=52.0),  # drops 10 / 0.5 / 4: audio most
        row("inputs_question_audio", audio=61.0, visual=58.0, av=50.0),  # drops -1 / 2 / 6: AV most
        row("fusion_concat", gap=20.0),
        row("fusion_add", gap=15.5, seeds=1, std=0.0),
    ])


def test_every_expectation_is_judged_with_margin_and_noise():
    verdicts = {v.expectation: v for v in check_expectations(full_table())}
    assert len(verdicts) == 7
    late = verdicts["mcd beats late overall"]
    assert (late.verdict, late.margin, late.noise, late.beyond_noise) == (HELD, pytest.approx(5.0), 1.0, True)
    qo = verdicts["mcd beats inputs_question_only overall"]
    assert qo.verdict == NOT_HELD and qo.margin == pytest.approx(-1.0) and qo.beyond_noise is False  # |-1| = std
    audio = verdicts["no audio (inputs_question_visual) hurts Audio questions most"]
    assert audio.verdict == HELD and audio.margin == pytest.approx(10.0 - 4.0)
    assert "Audio (all) +10.00" in audio.evidence
    vision = verdicts["no vision (inputs_question_audio) hurts Visual questions most"]
    assert vision.verdict == NOT_HELD and vision.margin == pytest.approx(2.0 - 6.0)
    concat = verdicts["fusion_concat has a larger train-val gap than mcd"]
    assert concat.verdict == HELD and concat.margin == pytest.approx(5.0)
    add = verdicts["fusion_add has a larger train-val gap than mcd"]
    assert add.verdict == HELD and add.noise is None and add.beyond_noise is None  # one seed: no spread known
    md = expectations_markdown(list(verdicts.values()))
    assert "| mcd beats late overall | held | beyond the seed spread |" in md
    assert "| did NOT hold | within the seed spread |" in md and "| single seed |" in md


def test_missing_variants_are_not_tested_never_guessed():
    verdicts = check_expectations(AblationTable([row("mcd"), row("late", overall=40.0)]))
    by_name = {v.expectation: v for v in verdicts}
    assert by_name["mcd beats late overall"].verdict == HELD
    assert by_name["mcd beats qonly overall"].verdict == NOT_TESTED
    assert "lacks qonly" in by_name["mcd beats qonly overall"].evidence
    no_reference = check_expectations(AblationTable([row("late")]))
    assert {v.verdict for v in no_reference} == {NOT_TESTED}
    assert "| - |" in expectations_markdown(no_reference)


def test_csv_round_trip_and_bad_files(tmp_path):
    table = full_table()
    path = table.write_csv(tmp_path / "ablation.csv")
    back = AblationTable.read_csv(path)
    assert back.columns == table.columns and [r["variant"] for r in back.rows] == [r["variant"] for r in table.rows]
    assert back.rows[0]["Overall"] == (57.0, 1.0) and back.rows[0]["Visual Counting"] == (None, None)
    assert back.rows[-1]["seeds"] == 1
    assert [v.as_row() for v in check_expectations(back)] == [v.as_row() for v in check_expectations(table)]
    with pytest.raises(McdError, match="no ablation table there"):
        AblationTable.read_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nmcd,1\n")
    with pytest.raises(McdError, match="not an ablation table"):
        AblationTable.read_csv(bad)
    short = tmp_path / "short.csv"
    short.write_text("variant,seeds,Overall mean,Overall std\nmcd,3,57.0\n")
    with pytest.raises(McdError, match="line 2 has 3 fields"):
        AblationTable.read_csv(short)
    junk = tmp_path / "junk.csv"
    junk.write_text("variant,seeds,Overall mean,Overall std\nmcd,3,high,1\n")
    with pytest.raises(McdError, match="line 2"):
        AblationTable.read_csv(junk)
