"""Multi-process training with ``torch.distributed`` (DDP), launched by ``torchrun``.

``torchrun --nproc_per_node 2 -m mcdlib train ...`` (or ``--nnodes``/``--rdzv-endpoint`` for
several machines) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` then joins
the process group through ``env://`` (backend ``nccl`` on CUDA, ``gloo`` on CPU). Without
those variables everything here degrades to a single process. Only rank 0 writes files;
each rank reads its shard through ``iter_batches(rank=..., world_size=...)``; epoch metrics
are gathered to every rank with :meth:`Distributed.gather` so all ranks agree on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mcdlib.train.device import resolve_device


@dataclass
class Distributed:
    """This process's place in the job (a single process when ``world_size`` is 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False  # True when setup() created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def gather(self, obj):
        """Every rank's ``obj`` as a list in rank order (``[obj]`` for one process)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on at least one (one scalar all-reduce)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if :func:`setup` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def launched_by_torchrun() -> bool:
    """True when the environment describes a multi-process job (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_name: str = "auto") -> Distributed:
    """Join the ``env://`` process group when launched by torchrun; pick this rank's device."""
    if not launched_by_torchrun():
        return Distributed(device=resolve_device(device_name))
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank=local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, init_method="env://")
        owns = True
    else:
        backend = dist.get_backend()
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=device,
                       backend=backend, owns_group=owns)
