"""DDP on CPU: two gloo processes train one run (env:// init, as torchrun sets it up)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from fakes_train import FakeModel, fake_config, fake_datasets
from mcdlib.train import RunFolder, read_metrics, train
from mcdlib.train.checkpoint import load_checkpoint
from mcdlib.train.distributed import setup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    summary = train(fake_config(train__epochs=2), out, datasets=fake_datasets(n_train=50, n_val=25),
                    model_factory=FakeModel)
    torch.save(summary["world_size"], os.path.join(out, f"rank{rank}.pt"))


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    assert torch.load(out / "rank0.pt") == 2 and torch.load(out / "rank1.pt") == 2
    records = read_metrics(out)
    assert [r["epoch"] for r in records] == [1, 2]  # written once (rank 0 only)
    # every question counted once: 50 train (2 x 25), 25 val (padded shards de-duplicated)
    assert all(r["train"]["n"] == 50 and r["val"]["n"] == 25 for r in records)
    status = RunFolder(out).status()
    assert status["status"] == "finished" and status["world_size"] == 2
    assert load_checkpoint(RunFolder(out).last)["epoch"] == 2


def test_single_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = setup("cpu")
    assert (dist.rank, dist.world_size, dist.is_main, dist.active) == (0, 1, True, False)
    assert dist.gather({"a": 1}) == [{"a": 1}] and dist.any(True) and not dist.any(False)
