"""Laying out downloaded AVQA annotations as a dataset folder (``data_scripts/prepare_avqa.py``).

AVQA (Yang et al. 2022) is downloaded from its project page: ``train_qa.json`` and
``val_qa.json`` (the annotations), HDF5 feature files, and the clips (VGGSound, 10 s). This
module places the annotation files as ``<dataset>/json/{train,val}_qa.json`` (linked or copied),
after reading every record with the AVQA reader, and says what to run next. Nothing is
downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mcdlib.data.avqa import RELEASED_SPLITS, SPLIT_SUFFIX, read_avqa_annotations
from mcdlib.data.prepare import place_file
from mcdlib.errors import AnnotationError

#: where AVQA is published (the annotations, the HDF5 features and the clip list)
AVQA_PROJECT_PAGE = "https://mn.cs.tsinghua.edu.cn/avqa"


@dataclass
class AvqaPlacement:
    """What :func:`place_avqa_annotations` did, per split."""

    dataset: Path
    placed: dict[str, str] = field(default_factory=dict)  # split → "linked <- path" / "already there" ...
    questions: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"AVQA annotations in {self.dataset / 'json'}:"]
        lines += [f"  {split}{SPLIT_SUFFIX}: {how} ({self.questions[split]:,} questions)" for split, how in self.placed.items()]
        lines += [f"  {split}{SPLIT_SUFFIX}: MISSING (download it from {AVQA_PROJECT_PAGE})" for split in self.missing]
        return "\n".join(lines)


def place_avqa_annotations(source: str | Path, dataset_dir: str | Path, mode: str = "link",
                           force: bool = False) -> AvqaPlacement:
    """Read (validate) ``<source>/{train,val}_qa.json`` and place them in ``<dataset>/json/``.

    ``source`` is the folder holding the downloaded files (or one of the files). A file that
    fails the reader is an AnnotationError naming the record; a missing split is listed.
    """
    source = Path(source)
    folder = source.parent if source.is_file() else source
    if not folder.is_dir():
        raise AnnotationError(f"{source}: no such folder; give the folder holding train_qa.json and val_qa.json")
    result = AvqaPlacement(Path(dataset_dir))
    for split in RELEASED_SPLITS:
        path = folder / f"{split}{SPLIT_SUFFIX}"
        if not path.is_file():
            result.missing.append(split)
            continue
        result.questions[split] = len(read_avqa_annotations(path))
        how = place_file(path, result.dataset / "json" / path.name, mode, force)
        result.placed[split] = f"{how} <- {path}" if how != "already there" else how
    if not result.placed:
        raise AnnotationError(f"{folder}: holds neither train_qa.json nor val_qa.json (the AVQA annotation files)")
    return result


def avqa_next_commands(dataset_dir: str | Path, has_features: bool, videos: str | Path | None = None,
                       script_dir: str = "data_scripts") -> list[str]:
    """The commands after placing the annotations: features, check, pack, train, evaluate val."""
    dataset = str(dataset_dir)
    commands = []
    if not has_features:
        commands.append(f"mcd data import-avqa {dataset} --appearance APPEARANCE.h5 --motion MOTION.h5 --audio AUDIO.h5"
                        f"   # or: python {script_dir}/extract_features.py --videos {videos or 'PATH/TO/CLIPS'} "
                        f"--dataset {dataset} --annotated-only --keep-going")
    commands += [f"mcd data check {dataset}",
                 f"mcd data pack {dataset}",
                 f"mcd train --data {dataset} --preset full --set data.test_split=val --out runs/mcd_avqa",
                 "mcd eval --run runs/mcd_avqa --split val --json runs/mcd_avqa/val.json"]
    return commands
