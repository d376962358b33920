"""``mcd data import-avqa``: AVQA's released HDF5 features into the dataset's ``feats/`` layout.

    mcd data import-avqa data/avqa --appearance feats/avqa_appearance.h5 --motion feats/avqa_motion.h5 \\
        --audio feats/avqa_audio.h5
    mcd data import-avqa data/avqa --list feats/avqa_audio.h5        # what an HDF5 file holds

The dataset folder must hold the AVQA annotations (``json/train_qa.json``, ``json/val_qa.json``):
the HDF5 rows are matched to videos through them. Dataset names inside the files are checked at
open (``--appearance-dataset`` etc. when a release names them differently). Then
``mcd data pack DATASET`` and ``mcd train --data DATASET``. Logic: :mod:`mcdlib.data.avqa_features`.
"""

from __future__ import annotations

import time
from pathlib import Path

from mcdlib.data.avqa_features import (DEFAULT_DATASETS, DEFAULT_IDS, FEATURE_NAMES, H5Feature, describe_h5,
                                       format_summary, import_avqa_features)


def register(sub) -> None:
    p = sub.add_parser(
        "import-avqa", help="convert AVQA's released HDF5 features into feats/ (then mcd data pack)",
        description="Convert AVQA's HDF5 feature files (appearance [N, clips, frames, D], motion [N, clips, D], "
                    "audio [N, D]) into DATASET_DIR/feats/<name>/<video_name>.npy and declare them in "
                    "manifest.json. Rows are matched to videos through the dataset's AVQA annotations.")
    p.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding json/train_qa.json and val_qa.json")
    for role in DEFAULT_DATASETS:
        p.add_argument(f"--{role}", metavar="FILE", type=Path, default=None,
                       help=f"HDF5 file of the {role} features (written as feats/{FEATURE_NAMES[role]})")
        p.add_argument(f"--{role}-dataset", metavar="NAME", default=DEFAULT_DATASETS[role],
                       help=f"dataset name of the {role} features in the file (default: %(default)s)")
    p.add_argument("--ids", metavar="NAME", default=DEFAULT_IDS,
                   help="dataset name of the video ids, in every file (default: %(default)s)")
    p.add_argument("--annotations", metavar="DIR", default="json",
                   help="annotation sub-folder of DATASET_DIR holding the *_qa.json files (default: %(default)s)")
    p.add_argument("--list", dest="list_file", metavar="FILE", type=Path, default=None,
                   help="only print the datasets (name, shape, dtype) of an HDF5 file")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.list_file is not None:
        for name, shape, dtype in describe_h5(args.list_file):
            print(f"{name:32s} {str(list(shape)):28s} {dtype}")
        return 0
    sources = {role: H5Feature.open(role, getattr(args, role), getattr(args, f"{role}_dataset"), args.ids)
               for role in DEFAULT_DATASETS if getattr(args, role) is not None}
    start = time.perf_counter()
    summary = import_avqa_features(args.dataset_dir, sources, args.annotations, progress=args.progress)
    print(f"imported into {Path(args.dataset_dir) / 'feats'} ({time.perf_counter() - start:.1f} s)")
    print(format_summary(summary))
    print(f"next: mcd data check {args.dataset_dir} && mcd data pack {args.dataset_dir}")
    return 0
