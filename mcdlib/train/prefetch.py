"""Batches assembled off the training thread and moved to the device ahead of use.

:class:`Prefetcher` wraps an iterator of host batch dicts (``dataset.iter_batches(...)``):

* a background thread runs the iterator (gathers from the packed memmaps, the text tables) up
  to ``depth`` batches ahead, and on CUDA pins each batch's tensors (page-locked memory);
* the training thread takes the next batch, and on CUDA issues its copies non-blocking on a
  side stream one batch ahead, so the transfer overlaps the previous step's compute (the
  compute stream waits for the copy on the device, never on the host);
* float16 tensors (the packed features, moved as float16 when the dataset is asked for
  ``half=True``: half the bytes) are cast to float32 on the device.

The batches and their order are exactly those of the wrapped iterator (a pure function of the
seed and epoch), so prefetching changes no result. An exception in the background thread is
raised in the training thread at the batch where it happened.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterable, Iterator, Mapping

import torch

_DONE = object()


def move_batch(batch: Mapping[str, Any], device: torch.device, non_blocking: bool = False) -> dict[str, Any]:
    """The batch on ``device``; float16 tensors become float32 there (after the copy)."""
    out = {}
    for key, value in batch.items():
        if torch.is_tensor(value):
            value = value.to(device, non_blocking=non_blocking)
            if value.dtype == torch.float16:
                value = value.float()
        out[key] = value
    return out


def pin_batch(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The batch with every tensor in page-locked host memory (for asynchronous copies)."""
    return {k: (v.pin_memory() if torch.is_tensor(v) else v) for k, v in batch.items()}


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher:
    """Iterate device batches of ``batches``, assembled ``depth`` ahead on a background thread.

    ``depth=0`` runs everything on the calling thread (no thread; same batches). ``pin`` defaults
    to the device being CUDA. Close it (or exhaust it) to stop the thread; it is also a context
    manager.
    """

    def __init__(self, batches: Iterable[Mapping[str, Any]], device: torch.device, depth: int = 2,
                 pin: bool | None = None):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.pin = self.cuda if pin is None else pin
        self.depth = max(int(depth), 0)
        self._source = iter(batches)
        self._queue: queue.Queue = queue.Queue(maxsize=max(self.depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._ready: dict[str, Any] | None = None
        if self.depth:
            self._thread = threading.Thread(target=self._produce, name="mcdlib-prefetch", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ background thread

    def _produce(self) -> None:
        try:
            for batch in self._source:
                if self._stop.is_set():
                    return
                self._put(pin_batch(batch) if self.pin else dict(batch))
        except BaseException as exc:  # raised again in the training thread
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # ------------------------------------------------------------------ training thread

    def _next_host(self) -> Any:
        if self._thread is None:
            batch = next(self._source, _DONE)
            return batch if batch is _DONE else (pin_batch(batch) if self.pin else batch)
        item = self._queue.get()
        if isinstance(item, _Failure):
            raise item.error
        return item

    def _start_copy(self, host: Mapping[str, Any]) -> dict[str, Any]:
        if self._stream is None:
            return move_batch(host, self.device, non_blocking=self.pin)
        with torch.cuda.stream(self._stream):
            return move_batch(host, self.device, non_blocking=True)

    def _take(self, batch: dict[str, Any]) -> dict[str, Any]:
        if self._stream is not None:  # the compute stream waits for the copy (on the device)
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self._stream)
            for value in batch.values():
                if torch.is_tensor(value):
                    value.record_stream(current)
        return batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            host = self._next_host()
            self._ready = None if host is _DONE else self._start_copy(host)
            while self._ready is not None:
                batch, failure = self._take(self._ready), None
                try:  # the next copy starts before this batch is used
                    host = self._next_host()
                    self._ready = None if host is _DONE else self._start_copy(host)
                except Exception as exc:  # raised after this (good) batch, where it happened
                    self._ready, failure = None, exc
                yield batch
                if failure is not None:
                    raise failure
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)
            self._thread = None

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
