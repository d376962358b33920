"""Learning curves of training runs, from their ``metrics.jsonl`` epoch records.

The one training loop (:mod:`mcdlib.train.loop`) appends one record per epoch::

    {"epoch": 3, "lr": 5e-4, "train": {"loss", "ce", <aux losses>, "n", "acc", "cells"},
     "val": {...} | null, "best": true, "epoch_s": ..., "elapsed_s": ...}

These pure functions turn records into series and figures (notebooks 05 and 06):

* :func:`as_records` - records from a list, a run folder or a ``metrics.jsonl`` path;
* :func:`series` - one value per epoch (``None`` where an epoch has no such value);
* :func:`aux_loss_names` - the auxiliary losses a run logged (``contrastive``, ``semantic``, ...);
* :func:`train_val_gap` - train minus val accuracy per epoch (computed by
  :func:`mcdlib.train.study.gap_curve`, the one definition of the gap);
* :func:`curves_figure` - loss, accuracy and auxiliary-loss panels for one or several runs;
* :func:`gap_figure` - the train-val gap per epoch for several runs (eval-mode train accuracy
  when the run logged it with ``train.eval_train``).

>>> fig = curves_figure({"MCD": "runs/05_train_mcd/mcd", "late": "runs/05_train_mcd/late"})  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from mcdlib.train.run_folder import read_metrics

#: what a record of a split holds besides auxiliary losses
RECORD_KEYS: frozenset[str] = frozenset({"loss", "ce", "n", "acc", "cells"})
#: panels :func:`curves_figure` can draw
PANELS: tuple[str, ...] = ("loss", "acc", "aux")

MetricsSource = Union[str, Path, Sequence[Mapping[str, Any]]]


def as_records(source: MetricsSource) -> list[dict[str, Any]]:
    """Epoch records from a list of records, a run folder or a ``metrics.jsonl`` file."""
    if isinstance(source, (str, Path)):
        return read_metrics(source)
    return [dict(r) for r in source]


def series(records: Sequence[Mapping[str, Any]], split: str, key: str) -> list[float | None]:
    """``record[split][key]`` for every epoch (``None`` where the split or the key is absent,
    e.g. ``val`` on epochs that were not validated)."""
    return [(r.get(split) or {}).get(key) for r in records]


def epochs(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """The epoch numbers of the records (1-based)."""
    return [int(r["epoch"]) for r in records]


def aux_loss_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the auxiliary losses logged in the train records, in first-seen order."""
    names: dict[str, None] = {}
    for r in records:
        for key, value in (r.get("train") or {}).items():
            if key not in RECORD_KEYS and isinstance(value, (int, float)):
                names[key] = None
    return list(names)


def train_val_gap(records: Sequence[Mapping[str, Any]], train: str = "running") -> list[float | None]:
    """Train accuracy minus val accuracy per epoch, in points (``None`` without a val record).

    ``train="running"``: the running accuracy of each training epoch (dropout on, weights
    moving); ``"eval"``: the eval-mode ``train_eval`` records (``train.eval_train``); ``"auto"``:
    eval when logged. See :func:`mcdlib.train.study.gap_curve`."""
    from mcdlib.train.study import gap_curve

    return gap_curve(records, train)


def best_epoch(records: Sequence[Mapping[str, Any]]) -> int | None:
    """The epoch with the best val accuracy (the last record flagged ``best``), or None."""
    flagged = [int(r["epoch"]) for r in records if r.get("best")]
    return flagged[-1] if flagged else None


def _named(runs: Mapping[str, MetricsSource] | MetricsSource) -> dict[str, list[dict[str, Any]]]:
    """One run or several named runs → {name: records}."""
    if isinstance(runs, Mapping):
        return {str(name): as_records(source) for name, source in runs.items()}
    return {"run": as_records(runs)}


def _plot(ax, x: Sequence[int], y: Sequence[float | None], **kwargs) -> None:
    """A line through the epochs that have a value (gaps skipped)."""
    points = [(a, b) for a, b in zip(x, y) if b is not None]
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, **kwargs)


def curves_figure(runs: Mapping[str, MetricsSource] | MetricsSource, panels: Sequence[str] = PANELS,
                  title: str | None = None):
    """Learning curves: one panel per entry of ``panels`` (``loss``: train solid / val dashed;
    ``acc``: the same for accuracy, with the best epoch starred; ``aux``: each auxiliary loss on
    the train split, already weighted as the loop adds them). One colour per run. The ``aux``
    panel is left out when no run logged auxiliary losses."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    named = _named(runs)
    unknown = [p for p in panels if p not in PANELS]
    if unknown:
        raise ValueError(f"unknown panel(s) {unknown}; choose from {PANELS}")
    shown = [p for p in panels if p != "aux" or any(aux_loss_names(r) for r in named.values())]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for ax, panel in zip(axes[0], shown):
        for i, (name, records) in enumerate(named.items()):
            colour, x = colours[i % len(colours)], epochs(records)
            if panel in ("loss", "acc"):
                _plot(ax, x, series(records, "train", panel), color=colour, linestyle="-", label=f"{name} train")
                _plot(ax, x, series(records, "val", panel), color=colour, linestyle="--", label=f"{name} val")
                best = best_epoch(records)
                if panel == "acc" and best is not None:
                    ax.plot([best], [series(records, "val", "acc")[x.index(best)]], marker="*", markersize=12,
                            color=colour, linestyle="none")
            else:
                for j, aux in enumerate(aux_loss_names(records)):
                    _plot(ax, x, series(records, "train", aux), color=colour, linestyle=styles[j % len(styles)],
                          label=f"{name} {aux}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel({"loss": "loss (CE + weighted aux)", "acc": "accuracy (%)", "aux": "weighted aux loss"}[panel])
        ax.set_title({"loss": "loss", "acc": "accuracy (★ best val epoch)", "aux": "auxiliary losses (train)"}[panel])
        if ax.lines:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def gap_figure(runs: Mapping[str, MetricsSource] | MetricsSource, ax=None, title: str | None = None,
               train: str = "auto"):
    """Train - val accuracy per epoch, one line per run (higher = more overfitting); ``train`` as
    in :func:`train_val_gap` (``auto``: eval-mode train accuracy where the run logged it; the
    legend says which)."""
    from mcdlib.train.study import curve_source
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    named = _named(runs)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    else:
        fig = ax.figure
    for name, records in named.items():
        used = curve_source(records) if train == "auto" else train
        _plot(ax, epochs(records), train_val_gap(records, used), label=f"{name} ({used} train acc)")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("train acc - val acc (points)")
    ax.set_title(title or "train-val accuracy gap")
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
