"""The one training loop on in-memory fakes: run folder, metrics, best epoch, determinism,
resume equivalence, divergence and misuse errors."""

from __future__ import annotations

import json

import pytest
import torch

from fakes_train import FakeDataset, FakeModel, fake_config, fake_datasets
from mcdlib.errors import RunError
from mcdlib.evaluation import REPORT_ROWS
from mcdlib.train import RunFolder, read_curves, read_metrics, train
from mcdlib.train.checkpoint import load_checkpoint


def run_fake(cfg, out, resume=False, **data_kwargs):
    return train(cfg, out, resume=resume, datasets=fake_datasets(**data_kwargs), model_factory=FakeModel)


def without_timings(records):
    return [{k: v for k, v in r.items() if k not in ("epoch_s", "elapsed_s")} for r in records]


def test_run_folder_metrics_and_best_epoch(tmp_path):
    summary = run_fake(fake_config(train__epochs=3), tmp_path / "run")
    run = RunFolder(tmp_path / "run")
    assert run.config.is_file() and run.last.is_file() and run.best.is_file()
    records = read_metrics(run.metrics)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    labels = [row.label for row in REPORT_ROWS]
    for r in records:
        for split, n in (("train", 48), ("val", 24)):
            rec = r[split]
            assert rec["n"] == n
            assert rec["loss"] == pytest.approx(rec["ce"] + rec["con"])
            assert list(rec["cells"]) == labels and rec["acc"] == rec["cells"]["Overall"]
    val = [r["val"]["acc"] for r in records]
    best = val.index(max(val)) + 1  # earliest epoch with the best val accuracy
    assert summary["best_epoch"] == best and summary["best_val_acc"] == max(val)
    assert [r["best"] for r in records].count(True) >= 1 and records[best - 1]["best"]
    assert load_checkpoint(run.best)["epoch"] == best and load_checkpoint(run.last)["epoch"] == 3
    status = json.loads(run.run_json.read_text())
    assert status["status"] == "finished" and status["epochs_done"] == 3 and status["device"] == "cpu"
    assert status["versions"]["torch"] == torch.__version__
    # lr step decay every 2 epochs by 0.1
    assert [r["lr"] for r in records] == pytest.approx([1e-2, 1e-2, 1e-3])
    assert read_curves(run.root)["val_acc"] == val


def test_training_learns_the_fake_task(tmp_path):
    summary = run_fake(fake_config(train__epochs=6, train__lr_step=100), tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    assert records[-1]["train"]["loss"] < records[0]["train"]["loss"]
    assert summary["final_train_acc"] > records[0]["train"]["acc"]


def test_same_seed_same_metrics_different_seed_differs(tmp_path):
    cfg = fake_config(train__epochs=2)
    run_fake(cfg, tmp_path / "a")
    run_fake(cfg, tmp_path / "b")
    run_fake(fake_config(train__epochs=2, train__seed=1), tmp_path / "c")
    a, b, c = (without_timings(read_metrics(tmp_path / x)) for x in "abc")
    assert a == b
    assert a != c


def test_resume_reaches_the_uninterrupted_result(tmp_path):
    run_fake(fake_config(train__epochs=4), tmp_path / "full")
    run_fake(fake_config(train__epochs=2), tmp_path / "split")
    summary = run_fake(fake_config(train__epochs=4), tmp_path / "split", resume=True)
    assert summary["epochs_done"] == 4
    full, split = load_checkpoint(tmp_path / "full/checkpoints/last.pt"), load_checkpoint(tmp_path / "split/checkpoints/last.pt")
    for key, value in full["model"].items():
        assert torch.equal(value, split["model"][key]), key
    assert without_timings(read_metrics(tmp_path / "full")) == without_timings(read_metrics(tmp_path / "split"))


class InterruptingDataset(FakeDataset):
    """Raises KeyboardInterrupt when an epoch >= ``stop_epoch`` starts (a killed run)."""

    def __init__(self, *args, stop_epoch=3, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_epoch = stop_epoch

    def iter_batches(self, batch_size, shuffle, seed, epoch, **kwargs):
        if shuffle and epoch >= self.stop_epoch:
            raise KeyboardInterrupt
        yield from super().iter_batches(batch_size, shuffle, seed, epoch, **kwargs)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    cfg = fake_config(train__epochs=4)
    run_fake(cfg, tmp_path / "full")
    data = fake_datasets()
    data["train"] = InterruptingDataset(48, data["train"].spec, seed=0, stop_epoch=3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", datasets=data, model_factory=FakeModel)
    assert RunFolder(tmp_path / "cut").status()["status"] == "interrupted"
    assert load_checkpoint(tmp_path / "cut/checkpoints/last.pt")["epoch"] == 2
    run_fake(cfg, tmp_path / "cut", resume=True)
    a = load_checkpoint(tmp_path / "full/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut/checkpoints/last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_naming_epoch_step_and_last_checkpoint(tmp_path):
    with pytest.raises(RunError) as err:
        run_fake(fake_config(train__epochs=3), tmp_path / "run", nan_epoch=2)
    message = str(err.value)
    assert "epoch 2, step 1" in message and "non-finite" in message
    assert str(tmp_path / "run/checkpoints/last.pt") in message and "(epoch 1)" in message
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["epoch"] == 1  # nothing lost
    status = RunFolder(tmp_path / "run").status()
    assert status["status"] == "failed" and "diverged" in status["error"]


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path):
    cfg = fake_config(train__epochs=1)
    with pytest.raises(RunError, match="nothing to resume"):
        run_fake(cfg, tmp_path / "run", resume=True)
    run_fake(cfg, tmp_path / "run")
    with pytest.raises(RunError, match="already holds a run.*--resume"):
        run_fake(cfg, tmp_path / "run")


def test_resume_with_other_settings_names_the_keys(tmp_path):
    run_fake(fake_config(train__epochs=1), tmp_path / "run")
    with pytest.raises(RunError) as err:
        run_fake(fake_config(train__epochs=2, train__lr=0.5, model__fusion="concat"), tmp_path / "run", resume=True)
    message = str(err.value)
    assert "train.lr: 0.01 -> 0.5" in message and "model.fusion: 'none' -> 'concat'" in message
    assert "new --out folder" in message


def test_empty_split_is_a_clear_error(tmp_path):
    data = fake_datasets()
    data["val"] = FakeDataset(0, data["train"].spec)
    with pytest.raises(RunError, match="'val' split holds no questions"):
        train(fake_config(), tmp_path / "run", datasets=data, model_factory=FakeModel)


def test_progress_bars_can_be_turned_off(tmp_path, capsys):
    run_fake(fake_config(train__epochs=1), tmp_path / "quiet", )
    quiet = capsys.readouterr()
    train(fake_config(train__epochs=1), tmp_path / "loud", progress=True, datasets=fake_datasets(),
          model_factory=FakeModel)
    loud = capsys.readouterr()
    assert "epoch" not in quiet.err and "epoch 1/1" in loud.err
    assert "best epoch 1" in quiet.out  # the summary is printed either way
