"""mcdlib.viz.curves: series, gaps and figures from metrics.jsonl records."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from mcdlib.train.run_folder import append_metrics
from mcdlib.viz.curves import (as_records, aux_loss_names, best_epoch, curves_figure, gap_figure, series,
                               train_val_gap)


def record(epoch: int, train_acc: float, val_acc: float | None, aux: bool = True, best: bool = False) -> dict:
    train = {"loss": 3.0 - epoch * 0.1, "ce": 2.0, "n": 10, "acc": train_acc, "cells": {"Overall": train_acc}}
    if aux:
        train |= {"contrastive": 0.5, "semantic": 0.4}
    val = None if val_acc is None else {"loss": 2.5, "ce": 2.5, "n": 4, "acc": val_acc, "cells": {}}
    return {"epoch": epoch, "lr": 1e-3, "train": train, "val": val, "best": best, "epoch_s": 1.0, "elapsed_s": epoch}


@pytest.fixture
def records() -> list[dict]:
    return [record(1, 30.0, 28.0, best=True), record(2, 40.0, None), record(3, 60.0, 35.0, best=True)]


def test_series_gap_and_best(records):
    assert series(records, "train", "acc") == [30.0, 40.0, 60.0]
    assert series(records, "val", "acc") == [28.0, None, 35.0]
    assert series(records, "val", "contrastive") == [None, None, None]
    assert train_val_gap(records) == [2.0, None, 25.0]
    assert best_epoch(records) == 3
    assert best_epoch([record(1, 1.0, 1.0)]) is None


def test_aux_loss_names_in_first_seen_order(records):
    assert aux_loss_names(records) == ["contrastive", "semantic"]
    assert aux_loss_names([record(1, 1.0, 1.0, aux=False)]) == []


def test_records_from_a_run_folder(tmp_path, records):
    for r in records:
        append_metrics(tmp_path / "metrics.jsonl", r)
    assert as_records(tmp_path) == records
    assert as_records(tmp_path / "metrics.jsonl") == records
    assert as_records(tmp_path / "nowhere") == []


def test_curves_figure_panels_and_lines(records):
    fig = curves_figure({"mcd": records, "late": [record(1, 50.0, 20.0, aux=False)]}, title="t")
    loss, acc, aux = fig.axes
    assert len(loss.lines) == 4  # train + val of each run
    assert len(acc.lines) == 5  # the same plus the best-epoch star of the run that has one
    assert len(aux.lines) == 2  # only mcd logged auxiliary losses
    assert list(loss.lines[1].get_xdata()) == [1, 3]  # the unvalidated epoch is skipped
    plt.close(fig)


def test_curves_figure_drops_empty_aux_panel_and_rejects_unknown_panels():
    fig = curves_figure([record(1, 50.0, 20.0, aux=False)])
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown panel"):
        curves_figure([record(1, 50.0, 20.0)], panels=("loss", "speed"))


def test_gap_figure_one_line_per_run_plus_zero(records):
    fig = gap_figure({"a": records, "b": records[:1]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines if not line.get_label().startswith("_")] == \
        ["a (running train acc)", "b (running train acc)"]
    assert list(ax.lines[0].get_ydata()) == [2.0, 25.0]
    plt.close(fig)
    # a run that logged eval-mode train accuracies (train.eval_train) is drawn with them
    logged = [{**r, "train_eval": r["val"] and {"acc": r["val"]["acc"] + 1.0}} for r in records]
    fig = gap_figure({"a": logged})
    assert fig.axes[0].lines[0].get_label() == "a (eval train acc)" and list(fig.axes[0].lines[0].get_ydata()) == [1.0, 1.0]
    plt.close(fig)
