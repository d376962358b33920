"""The GPU-ready paths of the loop, tested on the CPU: prefetching, float16 transfer, no host
read on the hot path, deterministic/bf16 defaults, and AVST's two training stages."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import torch

import mcdlib.train.loop as loop
from fakes_train import FakeModel, fake_config, fake_datasets
from mcdlib.errors import ConfigError
from mcdlib.train import train
from mcdlib.train.checkpoint import load_checkpoint
from mcdlib.train.device import amp_settings
from mcdlib.train.prefetch import Prefetcher, move_batch
from mcdlib.train.run_folder import read_metrics
from mcdlib.train.stages import Stage, has_partial_objective, stage_of, starts_stage, training_stages

MCDLIB = str(Path(loop.__file__).resolve().parents[1])


# --------------------------------------------------------------------------- prefetching


def _batches(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad batch {i}")
        yield {"x": torch.full((2, 3), float(i), dtype=torch.float16), "i": torch.tensor([i]), "name": f"b{i}"}


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetcher_yields_the_same_batches_in_order_and_casts_float16_on_the_device(depth):
    got = list(Prefetcher(_batches(7), torch.device("cpu"), depth=depth))
    assert [int(b["i"]) for b in got] == list(range(7)) and [b["name"] for b in got] == [f"b{i}" for i in range(7)]
    assert all(b["x"].dtype == torch.float32 and float(b["x"][0, 0]) == i for i, b in enumerate(got))
    assert got[0]["i"].dtype == torch.int64


def test_prefetcher_raises_the_loader_error_at_its_batch_and_stops_its_thread():
    seen = []
    with pytest.raises(ValueError, match="bad batch 4"):
        for batch in Prefetcher(_batches(9, fail_at=4), torch.device("cpu"), depth=2):
            seen.append(int(batch["i"]))
    assert seen == [0, 1, 2, 3]
    assert not any(t.name == "mcdlib-prefetch" for t in threading.enumerate())


def test_prefetcher_closes_its_thread_when_abandoned_early():
    with Prefetcher(_batches(50), torch.device("cpu"), depth=2) as batches:
        next(iter(batches))
    assert not any(t.name == "mcdlib-prefetch" for t in threading.enumerate())


def test_prefetcher_pins_on_request(monkeypatch):
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(self.shape) or self)
    list(Prefetcher(_batches(3), torch.device("cpu"), depth=1, pin=True))
    assert len(pinned) == 3 * 2  # both tensors of every batch


def test_move_batch_keeps_non_tensors_and_integer_dtypes():
    out = move_batch({"a": torch.ones(2, dtype=torch.float16), "b": torch.ones(2, dtype=torch.bool), "c": 3}, "cpu")
    assert out["a"].dtype == torch.float32 and out["b"].dtype == torch.bool and out["c"] == 3


# --------------------------------------------------------------------------- no host read per step


def test_the_training_step_never_reads_a_tensor_on_the_host(tmp_path, monkeypatch):
    """With the CUDA checking interval, mcdlib's step code calls no .item(), bool(tensor),
    float/int(tensor), .cpu(), .tolist(), .numpy() between two batches (torch's own internals,
    such as Adam's CPU step counter, are not mcdlib's)."""
    monkeypatch.setattr(loop, "host_check_interval", lambda device: 10 ** 6)
    in_step = {"on": False}
    calls = []

    def watched(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if in_step["on"] and caller.startswith(MCDLIB):
                calls.append(f"{name} from {caller}:{sys._getframe(1).f_lineno}")
            return original(self, *args, **kwargs)
        return wrapper

    for name in ("item", "__bool__", "__float__", "__int__", "__index__", "cpu", "tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, watched(name))
    real = loop.device_batches

    def flagged(*args, **kwargs):
        prefetcher = real(*args, **kwargs)

        class Flagged:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                in_step["on"] = False
                prefetcher.close()

            def __iter__(self):
                for batch in prefetcher:
                    in_step["on"] = True
                    yield batch
                    in_step["on"] = False
        return Flagged()

    monkeypatch.setattr(loop, "device_batches", flagged)
    summary = train(fake_config(train__epochs=2), tmp_path / "run", datasets=fake_datasets(), model_factory=FakeModel)
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
    assert calls == []


def test_divergence_remembers_the_first_bad_step_on_the_device():
    watch = loop.Divergence(torch.device("cpu"))
    watch.update(1, torch.tensor(1.0), torch.tensor(2.0))
    assert watch.read() == (None, False, False)
    watch.update(2, torch.tensor(1.0), torch.tensor(float("inf")))
    watch.update(3, torch.tensor(float("nan")), torch.tensor(1.0))
    assert watch.read() == (2, False, True)


def test_a_late_divergence_is_caught_at_the_end_of_the_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "host_check_interval", lambda device: 10 ** 6)
    from mcdlib.errors import RunError

    with pytest.raises(RunError, match="epoch 2, step 1: non-finite"):
        train(fake_config(train__epochs=3), tmp_path / "run", datasets=fake_datasets(nan_epoch=2),
              model_factory=FakeModel)
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["epoch"] == 1


# --------------------------------------------------------------------------- CUDA defaults (mocked)


def test_deterministic_defaults_to_on_for_the_cpu_and_off_on_cuda():
    assert loop.resolve_deterministic(None, torch.device("cpu")) is True
    assert loop.resolve_deterministic(None, torch.device("cuda")) is False
    assert loop.resolve_deterministic(True, torch.device("cuda")) is True
    assert fake_config(train__deterministic="auto").train.deterministic is None
    assert fake_config(train__deterministic="false").train.deterministic is False


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_amp_uses_bf16_only_where_it_is_native(monkeypatch, native, expected):
    asked = []

    def supported(including_emulation=True):
        asked.append(including_emulation)
        return native or including_emulation  # emulated bf16 exists everywhere, native only on new GPUs

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    monkeypatch.setattr(torch.cuda, "device", lambda device: __import__("contextlib").nullcontext())
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a mocked GPU")
    settings = amp_settings(torch.device("cuda"), "auto")
    assert settings.name == expected and settings.use_scaler == (expected == "fp16") and set(asked) == {False}
    if not native:
        with pytest.raises(ConfigError, match="no native bfloat16"):
            amp_settings(torch.device("cuda"), "bf16")


def test_device_batches_ask_the_dataset_for_float16_on_cuda_only(monkeypatch):
    asked = {}

    class Data:
        def iter_batches(self, batch_size, half=False, **kwargs):
            asked["half"] = half
            return iter([])

    monkeypatch.setattr(loop, "Prefetcher", lambda batches, device, depth: list(batches))
    loop.device_batches(Data(), torch.device("cpu"), batch_size=4)
    assert asked == {"half": False}
    loop.device_batches(Data(), torch.device("cuda"), batch_size=4)
    assert asked == {"half": True}


# --------------------------------------------------------------------------- AVST's two stages


def test_stages_follow_the_config():
    cfg = fake_config(model__name="avst", model__avst_grounding_epochs=2, train__epochs=5)
    stages = training_stages(cfg)
    assert stages == [Stage("grounding", 1, 2, ("match",)), Stage("qa", 3, 5)]
    assert [stage_of(stages, e).name for e in range(1, 8)] == ["grounding"] * 2 + ["qa"] * 5
    assert [e for e in range(1, 6) if starts_stage(stages, e)] == [3] and has_partial_objective(stages)
    assert training_stages(fake_config(model__avst_grounding_epochs=2)) == [Stage("train", 1, 3)]  # MCD: one
    ce, aux = torch.tensor(2.0), {"match": torch.tensor(0.5), "other": torch.tensor(1.0)}
    assert float(stages[0].loss(ce, aux)) == 0.5 and float(stages[1].loss(ce, aux)) == 3.5
    with pytest.raises(ConfigError, match="leaves no question-answering epoch"):
        training_stages(fake_config(model__name="avst", model__avst_grounding_epochs=3, train__epochs=3))
    with pytest.raises(ConfigError, match="avst_match_weight=0"):
        training_stages(fake_config(model__name="avst", model__avst_match_weight=0))


def _avst_config(**kwargs):
    return fake_config(model__name="avst", model__avst_grounding_epochs=2, train__epochs=4, train__lr_step=1,
                       train__lr_gamma=0.5, **kwargs)


def test_avst_grounding_stage_trains_the_matching_layers_only_then_restarts_adam(tmp_path):
    from mcdlib.models import build_model

    data = fake_datasets()
    cfg = _avst_config()
    torch.manual_seed(cfg.train.seed)  # as the loop does before building the model
    initial = build_model(cfg.model, data["train"].spec).state_dict()
    grounded = _state_after_grounding(tmp_path, data)
    for name in ("answer.weight", "fusion.weight", "question.lstm.weight_hh_l0", "temporal_audio.norm.weight"):
        assert torch.equal(grounded[name], initial[name]), name
    for name in ("match.0.weight", "grounded.weight", "audio.0.weight"):
        assert not torch.equal(grounded[name], initial[name]), name
    train(cfg, tmp_path / "run", datasets=data)
    records = read_metrics(tmp_path / "run/metrics.jsonl")
    assert [r["stage"] for r in records] == ["grounding", "grounding", "qa", "qa"]
    assert [r["lr"] for r in records] == pytest.approx([0.01, 0.005, 0.01, 0.005])  # a fresh schedule at epoch 3
    assert "match" in records[0]["train"]


def _state_after_grounding(tmp_path, data):
    """The weights at the end of the grounding stage: a run stopped (interrupted) after epoch 2."""
    from mcdlib.train.loop import Trainer

    stop = tmp_path / "stop"
    real_end = Trainer.end_epoch

    def end_then_stop(self, epoch, *args, **kwargs):
        real_end(self, epoch, *args, **kwargs)
        if epoch == 2:
            raise KeyboardInterrupt

    Trainer.end_epoch = end_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            train(_avst_config(), stop, datasets=data)
    finally:
        Trainer.end_epoch = real_end
    payload = load_checkpoint(stop / "checkpoints/last.pt")
    assert payload["epoch"] == 2
    return payload["model"]


def test_avst_resumed_across_the_stage_boundary_equals_the_uninterrupted_run(tmp_path):
    data = fake_datasets()
    train(_avst_config(), tmp_path / "full", datasets=data)
    _state_after_grounding(tmp_path, data)  # interrupted at the end of epoch 2, the last grounding epoch
    train(_avst_config(), tmp_path / "stop", datasets=data, resume=True)
    a = load_checkpoint(tmp_path / "full/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "stop/checkpoints/last.pt")
    assert a["epoch"] == b["epoch"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert read_metrics(tmp_path / "full/metrics.jsonl")[-1]["train"] == read_metrics(
        tmp_path / "stop/metrics.jsonl")[-1]["train"]


# --------------------------------------------------------------------------- OpenMP on a busy machine


def test_openmp_threads_sleep_only_on_a_busy_machine_and_never_against_the_user():
    from mcdlib.utils.threads import calm_openmp_when_busy

    busy, quiet = (lambda: (3.0, 2.0, 1.0)), (lambda: (0.5, 0.5, 0.5))
    env = {}
    assert calm_openmp_when_busy(env, {}, busy, cpus=2) == "PASSIVE" and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {}
    assert calm_openmp_when_busy(env, {}, quiet, cpus=2) is None and env == {}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert calm_openmp_when_busy(env, {}, busy, cpus=2) is None and env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {}
    assert calm_openmp_when_busy(env, {"torch": object()}, busy, cpus=2) is None and env == {}  # too late
