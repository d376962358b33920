"""Checkpoints: atomic writes, what they hold, and the checks made before one is reused.

A checkpoint (``<run>/checkpoints/last.pt`` or ``best.pt``) is a dict with the model,
optimiser, scheduler and grad-scaler states, the RNG states, the epoch just finished, the
whole config and its :func:`config_hash`, the data dimensions (:class:`DataSpec` as a dict plus
its type-label table) and the answer vocabulary, so a run can be resumed, evaluated or
predicted from without guessing. Files are written to a temporary name and moved into place
with :func:`os.replace`, so an interrupted write never leaves a truncated checkpoint.
Everything stored is loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mcdlib.config import Config, to_dict
from mcdlib.errors import FeatureError, RunError

FORMAT = "mcdlib-checkpoint/1"

#: config keys that do not change what a run computes (excluded from the config hash):
#: where the data lives, how long to train, and how/where it runs (deterministic kernels or not)
RUNTIME_KEYS: frozenset[str] = frozenset({
    "preset", "data.root", "data.cache_dir", "train.epochs", "train.progress", "train.device", "train.amp",
    "train.threads", "train.eval_train", "train.deterministic",
})

#: DataSpec fields that name a feature input, for dimension-mismatch messages
FEATURE_DIMS: dict[str, str] = {
    "audio_dim": "audio feature (data.audio_feature)",
    "visual_dim": "visual feature (data.visual_feature)",
    "visual_grid": "visual grid feature (data.visual_grid_feature)",
    "text_dim": "question/text-object features (data.text_encoder)",
    "segments": "segments per video (data.segments)",
    "vocab_size": "question vocabulary",
    "question_len": "question length (data.max_question_tokens)",
    "num_answers": "answer vocabulary (data.answer_order / data.unknown_answers)",
    "num_cells": "question cells",
}


# --------------------------------------------------------------------------- config identity


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"fusion": "none"}}`` → ``{"model.fusion": "none"}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def identity_settings(cfg: Config | dict) -> dict[str, Any]:
    """The flat settings that define a run's result (every key but :data:`RUNTIME_KEYS`)."""
    flat = flatten(cfg if isinstance(cfg, dict) else to_dict(cfg))
    return {k: v for k, v in sorted(flat.items()) if k not in RUNTIME_KEYS}


def config_hash(cfg: Config | dict) -> str:
    """A short stable hash of :func:`identity_settings` (same settings → same hash)."""
    text = json.dumps(identity_settings(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_diff(old: Config | dict, new: Config | dict, keys: set[str] | None = None) -> list[str]:
    """``"key: old -> new"`` lines for the identity settings that differ (or only ``keys``)."""
    a, b = identity_settings(old), identity_settings(new)
    names = sorted(set(a) | set(b))
    if keys is not None:
        names = [k for k in names if k in keys]
    return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in names if a.get(k) != b.get(k)]


# --------------------------------------------------------------------------- RNG states


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA) generator states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_state` (missing parts are left alone)."""
    if "python" in state:
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


# --------------------------------------------------------------------------- files


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temporary file in the same folder, then ``os.replace``).

    A failed write (disk full, file-size limit, quota) leaves the previous file as it was and
    raises RunError saying what happened and how to continue.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT, **payload}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        raise RunError(_write_failure(path, exc)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def _write_failure(path: Path, exc: BaseException) -> str:
    """The message of a failed checkpoint write: why, what is kept, what to do."""
    if isinstance(exc, OSError) and exc.strerror:
        reason = f"OSError: {exc.strerror}"
    else:  # torch's writer reports a short write as a RuntimeError: name the likely causes
        detail = (str(exc).strip().splitlines() or [""])[-1][:160]
        reason = f"{type(exc).__name__}: {detail}"
        limit = _file_size_limit()
        if limit is not None:
            reason = f"the file-size limit (ulimit -f) of {limit / 2**10:.0f} KiB was reached; {reason}"
    try:
        reason += f"; {shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free on that disk"
    except OSError:
        pass
    kept = (f"the previous {path.name} is kept unchanged" if path.is_file()
            else f"no {path.name} was written yet")
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return (f"{path}: could not write the checkpoint ({reason}); {kept}. Free disk space (or raise the "
            f"file-size limit), then continue with: mcd train --out {run} --resume")


def _file_size_limit() -> int | None:
    """The process's file-size limit in bytes (None when unlimited or unknown)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def check_same_data(saved: dict | None, current: dict | None, source: str | Path, what: str,
                    splits: list[str], annotations: str | None = None) -> None:
    """Refuse to ``what`` (resume, evaluate) a run on another dataset than it was trained on:
    RunError naming both datasets and the files that differ (:mod:`mcdlib.data.fingerprint`)."""
    from mcdlib.data.fingerprint import describe, fingerprint_differences

    differences = fingerprint_differences(saved, current, splits, annotations)
    if differences:
        raise RunError(f"{source}: cannot {what}: the run was trained on {describe(saved)}, but the data given "
                       f"is {describe(current)}; they differ in " + "; ".join(differences[:6])
                       + ". Use the run's own dataset, or train a new run on this one")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found; train first (mcd train ... --out {path.parent.parent})")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated, not a torch file, unsafe pickle...
        raise RunError(f"{path}: not a readable mcdlib checkpoint ({type(exc).__name__}: {exc}); "
                       "delete it and resume from the other checkpoint, or retrain") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise RunError(f"{path}: not an mcdlib checkpoint (format {found!r}, expected {FORMAT!r})")
    return payload


# --------------------------------------------------------------------------- compatibility checks


def check_resumable(payload: dict[str, Any], cfg: Config, source: str | Path, run_dir: str | Path) -> None:
    """A resume must continue the SAME run: equal config hash, else name the keys that differ."""
    if payload.get("config_hash") == config_hash(cfg):
        return
    diff = config_diff(payload.get("config", {}), cfg)
    detail = "; ".join(diff) if diff else "settings hash differs"
    raise RunError(
        f"{source}: cannot resume: this run folder was trained with other settings ({detail}). "
        f"Resume with the run's own settings ({Path(run_dir) / 'config.yaml'}), or start fresh "
        f"with a new --out folder (or delete {Path(run_dir) / 'checkpoints'})"
    )


def check_spec(saved: dict[str, Any], spec, source: str | Path) -> None:
    """The data a checkpoint was trained on must have the dimensions of the data at hand.

    A data side without a grid (``visual_grid`` None) is not compared: models that read no grid
    are given none (:func:`mcdlib.train.loop.data_config_for`), and a model that needs one is
    refused before it gets here."""
    current = spec.to_dict()
    problems = []
    for key, what in FEATURE_DIMS.items():
        if key == "visual_grid" and current.get(key) is None:
            continue
        if key in saved and key in current and _norm(saved[key]) != _norm(current[key]):
            problems.append(f"{what}: checkpoint has {key}={_norm(saved[key])}, data has {_norm(current[key])}")
    if problems:
        raise FeatureError(f"{source}: the data does not match the checkpoint's dimensions: "
                           + "; ".join(problems) + ". Use the features the model was trained on "
                           "(see the run's config.yaml) or train a new run")


def _norm(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path,
                     saved_model_cfg: dict | None = None, model_cfg=None) -> None:
    """Load weights strictly; a checkpoint of another model/config names the keys that differ."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or shapes):
        model.load_state_dict(state)
        return
    parts = []
    if saved_model_cfg is not None and model_cfg is not None:
        cfg_diff = [line for line in config_diff({"model": saved_model_cfg}, {"model": to_dict(model_cfg)})]
        if cfg_diff:
            parts.append("model settings differ: " + "; ".join(cfg_diff))
    for label, keys in (("missing in checkpoint", missing), ("not in this model", unexpected)):
        if keys:
            parts.append(f"{label}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''} ({len(keys)})")
    if shapes:
        parts.append("shape differs: " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shapes[:8]))
    raise RunError(f"{source}: checkpoint is from another model or config ({'; '.join(parts)}); "
                   "use the run's own config.yaml or retrain")
