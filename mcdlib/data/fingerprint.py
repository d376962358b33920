"""A dataset's fingerprint: which annotations and packed features a run was trained on.

A run records the fingerprint of its dataset (in ``run.json`` and in every checkpoint), so that
resuming it or evaluating it against another dataset (another build, other annotations, features
re-extracted differently) is refused, naming both, instead of silently continuing on other data.

The fingerprint is cheap: the SHA-256 of each annotation file ``<root>/<annotations>/avqa-*.json``
(AVQA: ``*_qa.json``; a few MB) and, per packed feature the run reads, a digest of the packed index entry (video
list, shape, sampling and the per-row content digests written by :func:`mcdlib.data.store.pack`);
no feature array is read.

>>> fp = dataset_fingerprint(cfg.data)                            # doctest: +SKIP
>>> fp["digest"], sorted(fp["annotations"]), sorted(fp["features"])
('3f1c...', ['json/avqa-test.json', 'json/avqa-train.json', 'json/avqa-val.json'], ['logmel', 'effnet'])
>>> fingerprint_differences(fp, other_fp, splits=["train", "val"])
['json/avqa-train.json: 3f0a12... -> 9bc4e1...']
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from mcdlib.data.features import resolve_data_config
from mcdlib.data.music_avqa import resolve_annotations
from mcdlib.data.store import feature_digest, read_index
from mcdlib.utils.io import file_sha256


#: the annotation files of a dataset: MUSIC-AVQA, AVQA
ANNOTATION_PATTERNS: tuple[str, ...] = ("avqa-*.json", "*_qa.json")


def split_file_names(split: str) -> set[str]:
    """The file names a split's annotations may have (MUSIC-AVQA, AVQA)."""
    return {f"avqa-{split}.json", f"{split}_qa.json"}


def dataset_fingerprint(cfg) -> dict[str, Any]:
    """The fingerprint of the dataset a DataConfig points at (see the module doc)."""
    data = resolve_data_config(cfg)
    version = resolve_annotations(cfg.root, cfg.annotations)  # "auto" -> json_update or json
    folder = Path(cfg.root) / version
    annotations = {f"{version}/{p.name}": file_sha256(p)[:16]
                   for pattern in ANNOTATION_PATTERNS for p in sorted(folder.glob(pattern))}
    index = read_index(cfg.root)
    features = {name: feature_digest(index, name) if index and name in index["features"] else None
                for name in data.features}
    digest = hashlib.sha256(json.dumps([annotations, features], sort_keys=True).encode()).hexdigest()[:16]
    return {"root": str(cfg.root), "digest": digest, "annotations": annotations, "features": features}


def fingerprint_differences(saved: dict | None, current: dict | None, splits: Iterable[str] | None = None,
                            annotations: str | None = None) -> list[str]:
    """What differs between two fingerprints: ``"json/avqa-train.json: <old> -> <new>"`` lines.

    Only the annotation files of ``splits`` (``avqa-<split>.json`` under the folder
    ``annotations``; all recorded files when None) and the packed features recorded in
    ``saved`` are compared; a file added since is not a difference. Empty when either
    fingerprint is missing (runs made before fingerprints, in-memory data).
    """
    if not saved or not current:
        return []
    old, new = saved.get("annotations") or {}, current.get("annotations") or {}
    if annotations == "auto":  # the version the current fingerprint resolved "auto" to
        annotations = next((k.split("/", 1)[0] for k in new), None)
    if splits is None:
        names = sorted(old)
    else:
        wanted = {name for s in splits for name in split_file_names(s)}
        names = sorted(k for k in old if k.rsplit("/", 1)[-1] in wanted
                       and (annotations is None or k.split("/", 1)[0] == annotations))
    lines = [f"{k}: {old[k]} -> {new.get(k, 'missing')}" for k in names if old[k] != new.get(k)]
    old_f, new_f = saved.get("features") or {}, current.get("features") or {}
    lines += [f"packed feature {k}: {old_f[k]} -> {new_f.get(k, 'missing')}"
              for k in sorted(old_f) if old_f[k] is not None and old_f[k] != new_f.get(k)]
    return lines


def describe(fingerprint: dict | None) -> str:
    """``"data/music_scenes/tiny (fingerprint 3f1c0e...)"`` for messages."""
    if not fingerprint:
        return "an unrecorded dataset"
    return f"{fingerprint.get('root')} (fingerprint {fingerprint.get('digest')})"
