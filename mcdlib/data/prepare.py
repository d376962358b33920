"""Laying out downloaded MUSIC-AVQA files as a dataset folder the library reads.

Users download the official annotations themselves (nothing here downloads): the
``data/json/`` and ``data/json_update/`` folders of https://github.com/GeWu-Lab/MUSIC-AVQA.
:func:`prepare_annotations` links (or copies) them into::

    <dataset>/json/avqa-{train,val,test}.json          original annotations (+ _real/_fake subsets)
    <dataset>/json_update/avqa-{train,val,test}.json   corrected annotations (used by papers since 2023)

verifies every file whose SHA-256 is known (:data:`KNOWN_SHA256`: the files of the official
repository at commit cc88095, or extra ``sha256sum`` lines given by the user), and reports
what is missing. :func:`link_feature_folders` links already-extracted feature folders
(e.g. the official ``vggish/`` and ``res18/``) as ``<dataset>/feats/<name>``.
:func:`next_commands` lists what to run next (extraction, check, pack, train).

>>> result = prepare_annotations("MUSIC-AVQA/", "data/music_avqa")
>>> print(result.format())
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from mcdlib.data.music_avqa import ANNOTATION_VERSIONS
from mcdlib.errors import AnnotationError, FeatureError
from mcdlib.utils.io import file_sha256

#: the three splits every annotation version must have
REQUIRED_SPLITS = ("train", "val", "test")
#: real-video / synthetic-video subsets shipped with the original version only (optional)
SUBSET_SPLITS = ("train_real", "val_real", "test_real", "train_fake", "val_fake", "test_fake")
#: SHA-256 of the official files (GeWu-Lab/MUSIC-AVQA at commit cc88095) that could be computed
#: here; the train files (over 4 MiB) were not available, so they are checked only against
#: checksums the user supplies (``extra_sha256``).
KNOWN_SHA256: dict[str, str] = {
    "json/avqa-test.json": "fa79cbd8e7f0bf043e1761271b216f130832dd419a171bce9d9b561017af6cc2",
    "json/avqa-test_fake.json": "0847885d5d604b09851e1630b4b42670ffdda489efca5745076c6055df99eead",
    "json/avqa-test_real.json": "a2c9210863428d754f55733d60b9a477da7672d7fa27658f6d2d6be9cf6894e1",
    "json/avqa-train_fake.json": "a5b0faaa357178ef5712f0a3b6be8e66d99c1e4d1b9fa6a1f95ec08b6b3f7cc4",
    "json/avqa-val.json": "119fc12dd07e2e4568797d0c5faf4e786356eab7eb8271cb6a14034e1148ac37",
    "json/avqa-val_fake.json": "baa4a953d098a8b2cdc8f4bb98397434c04b95ae0e1258a136ec896083a0c0e8",
    "json/avqa-val_real.json": "bfdcd960efdc97ebf81e19a9608a2d212a78753a88babfceba430ed55a437ad1",
    "json_update/avqa-test.json": "76ce24ee02fd85e28038605aedd4f62633e1335ccda96a1fcf7340b5feaf230e",
    "json_update/avqa-val.json": "650ca7e9e577139f43b7895d5b8207a2e287d8cdad940522b2122a12c0c9b8ef",
}
OFFICIAL_REPOSITORY = "https://github.com/GeWu-Lab/MUSIC-AVQA"
#: link modes: a symbolic link to the download (no copy), or a byte copy
MODES = ("link", "copy")

# checksum states of a prepared file
VERIFIED, MISMATCH, UNKNOWN = "verified", "MISMATCH", "no known checksum"


def parse_sha256sums(path: str | Path) -> dict[str, str]:
    """``{relative path: hex digest}`` from a ``sha256sum`` file (``<hex>  <path>`` lines)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: checksum file not found; give a file of '<sha256>  <path>' lines")
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise AnnotationError(f"{path}, line {number}: expected '<64 hex digits>  <path>', got {line!r}")
        sums[parts[1].strip().lstrip("*").removeprefix("./")] = digest
    return sums


def locate_annotation_folders(source: str | Path, version: str | None = None) -> dict[str, Path]:
    """``{version: folder}`` of the annotation folders under ``source``.

    ``source`` may be a clone of the official repository (``data/json``, ``data/json_update``),
    its ``data/`` folder (``json``, ``json_update``), or one folder of ``avqa-*.json`` files,
    whose version must then be given (``version="json"`` or ``"json_update"``).
    """
    source = Path(source)
    if not source.is_dir():
        raise AnnotationError(f"{source}: no such folder; give the folder holding the downloaded annotations "
                              f"(a clone of {OFFICIAL_REPOSITORY}, its data/ folder, or a folder of avqa-*.json)")
    if version is not None and version not in ANNOTATION_VERSIONS:
        raise AnnotationError(f"unknown annotation version {version!r}; choose one of {', '.join(ANNOTATION_VERSIONS)}")
    found = {}
    for base in (source, source / "data"):
        for name in ANNOTATION_VERSIONS:
            folder = base / name
            if name not in found and folder.is_dir() and any(folder.glob("avqa-*.json")):
                found[name] = folder
    if version is not None:
        if version in found:
            return {version: found[version]}
        if any(source.glob("avqa-*.json")):
            return {version: source}
        raise AnnotationError(f"{source}: holds no {version}/avqa-*.json nor avqa-*.json files")
    if found:
        return found
    if any(source.glob("avqa-*.json")):
        raise AnnotationError(f"{source}: holds avqa-*.json files directly; say which version they are with "
                              "--version json (original) or --version json_update (corrected)")
    raise AnnotationError(f"{source}: no MUSIC-AVQA annotations found (looked for json/, json_update/, data/json/, "
                          f"data/json_update/ and avqa-*.json); download them from {OFFICIAL_REPOSITORY}")


@dataclass
class PreparedFile:
    """One annotation file of the dataset folder and how it got there."""

    relative: str  # e.g. "json_update/avqa-train.json"
    target: Path
    source: Path | None  # None when not found in the download
    action: str  # "linked" | "copied" | "already there" | "missing"
    checksum: str = ""  # VERIFIED | MISMATCH | UNKNOWN ("" when missing)
    required: bool = True


@dataclass
class PrepareResult:
    """What :func:`prepare_annotations` did (:meth:`format` prints it)."""

    dataset_dir: Path
    files: list[PreparedFile] = field(default_factory=list)
    features: dict[str, str] = field(default_factory=dict)  # feats/<name> -> what was done

    @property
    def missing(self) -> list[PreparedFile]:
        """Required files (train/val/test of each prepared version) not found in the download."""
        return [f for f in self.files if f.required and f.action == "missing"]

    @property
    def mismatches(self) -> list[PreparedFile]:
        return [f for f in self.files if f.checksum == MISMATCH]

    @property
    def versions(self) -> list[str]:
        return sorted({f.relative.split("/")[0] for f in self.files if f.action != "missing"})

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatches

    def format(self) -> str:
        lines = [f"dataset folder: {self.dataset_dir}"]
        for f in self.files:
            if f.action == "missing" and not f.required:
                continue
            state = f.action + (f", sha256 {f.checksum}" if f.checksum else "")
            lines.append(f"  {f.relative:<28} {state}" + (f"  <- {f.source}" if f.source else ""))
        for name, state in self.features.items():
            lines.append(f"  feats/{name:<22} {state}")
        if self.mismatches:
            lines += ["", "checksum mismatches (the file differs from the official one: re-download it, or keep it "
                          "knowingly and say so with your results):"]
            lines += [f"  - {f.target} (from {f.source})" for f in self.mismatches]
        if self.missing:
            lines += ["", "missing (not in the download):"]
            lines += [f"  - {f.relative}: download data/{f.relative} from {OFFICIAL_REPOSITORY} into the source "
                      "folder, then rerun this command" for f in self.missing]
        return "\n".join(lines)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def place_file(source: Path, target: Path, mode: str = "link", force: bool = False) -> str:
    """Link or copy ``source`` to ``target``: ``"linked"``, ``"copied"`` or ``"already there"``.

    An existing different ``target`` is an error unless ``force``. ``"link"`` makes an absolute
    symbolic link (a copy where the file system refuses links).
    """
    if mode not in MODES:
        raise AnnotationError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if target.exists() or target.is_symlink():
        if _same_file(source, target) or (target.is_file() and file_sha256(target) == file_sha256(source)):
            return "already there"
        if not force:
            raise AnnotationError(f"{target}: exists and differs from {source}; remove it, or pass --force "
                                  "to replace it")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.symlink(source.resolve(), target)
            return "linked"
        except OSError:  # e.g. Windows without developer mode: fall back to a copy
            pass
    shutil.copyfile(source, target)
    return "copied"


def _checksum(relative: str, path: Path, known: dict[str, str]) -> str:
    expected = known.get(relative)
    if expected is None:
        return UNKNOWN
    return VERIFIED if file_sha256(path) == expected else MISMATCH


def prepare_annotations(source: str | Path, dataset_dir: str | Path, mode: str = "link",
                        version: str | None = None, extra_sha256: dict[str, str] | None = None,
                        force: bool = False) -> PrepareResult:
    """Place the downloaded annotation files of every version found under ``source`` into
    ``<dataset_dir>/<version>/avqa-<split>.json`` and verify their checksums.

    ``mode``: ``"link"`` (symbolic links, default) or ``"copy"``; ``version``: the version of a
    flat folder of ``avqa-*.json`` (see :func:`locate_annotation_folders`); ``extra_sha256``:
    more known checksums (``{"json_update/avqa-train.json": hex}``, e.g. from
    :func:`parse_sha256sums`), overriding none of :data:`KNOWN_SHA256` silently: a conflicting
    value is an error. Missing required splits are reported, not raised.
    """
    known = dict(KNOWN_SHA256)
    for relative, digest in (extra_sha256 or {}).items():
        if known.get(relative, digest) != digest:
            raise AnnotationError(f"the checksum given for {relative} ({digest[:12]}...) differs from the official "
                                  f"one ({known[relative][:12]}...); fix the checksum file")
        known[relative] = digest
    dataset_dir = Path(dataset_dir)
    result = PrepareResult(dataset_dir)
    for name, folder in locate_annotation_folders(source, version).items():
        optional = SUBSET_SPLITS if name == "json" else ()
        for split in REQUIRED_SPLITS + optional:
            relative = f"{name}/avqa-{split}.json"
            src, target = folder / f"avqa-{split}.json", dataset_dir / relative
            if not src.is_file():
                result.files.append(PreparedFile(relative, target, None, "missing", required=split in REQUIRED_SPLITS))
                continue
            action = place_file(src, target, mode, force)
            result.files.append(PreparedFile(relative, target, src, action, _checksum(relative, src, known),
                                             required=split in REQUIRED_SPLITS))
    return result


def link_feature_folders(features: str | Path, dataset_dir: str | Path, names: Sequence[str] | None = None,
                         force: bool = False) -> dict[str, str]:
    """Link each feature folder under ``features`` (``<name>/<video_id>.npy``, e.g. the official
    ``vggish``/``res18`` downloads) as ``<dataset_dir>/feats/<name>``; ``names`` picks some."""
    features = Path(features)
    if not features.is_dir():
        raise FeatureError(f"{features}: no such features folder; give the folder holding <name>/<video_id>.npy")
    folders = sorted(p for p in features.iterdir() if p.is_dir() and any(p.glob("*.npy")))
    if names:
        unknown = sorted(set(names) - {p.name for p in folders})
        if unknown:
            raise FeatureError(f"{features}: no feature folder {', '.join(unknown)} with .npy files; it holds "
                               f"{', '.join(p.name for p in folders) or 'none'}")
        folders = [p for p in folders if p.name in set(names)]
    if not folders:
        raise FeatureError(f"{features}: holds no <name>/ folder of .npy files")
    done = {}
    for folder in folders:
        target = Path(dataset_dir) / "feats" / folder.name
        if target.exists() or target.is_symlink():
            if _same_file(folder, target):
                done[folder.name] = "already there"
                continue
            if not force:
                raise FeatureError(f"{target}: exists and is not a link to {folder}; remove it or pass --force")
            if target.is_symlink() or target.is_file():
                target.unlink()
            else:
                raise FeatureError(f"{target}: is a real folder; move it away yourself (--force replaces links only)")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(folder.resolve(), target, target_is_directory=True)
        done[folder.name] = f"linked <- {folder}"
    return done


def add_script_options(parser, videos_help: str, force_help: str) -> None:
    """The options every prepare script shares: --videos, --force, --no-check, --no-progress."""
    parser.add_argument("--videos", type=Path, default=None, help=videos_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument("--no-check", action="store_true", help="skip the data check")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_check(dataset_dir: str | Path, skip: bool = False, progress: bool = True) -> bool:
    """Print the ``mcd data check`` report of a prepared dataset (unless ``skip``); whether it is valid."""
    if skip:
        return True
    from mcdlib.data.check import check_path

    report = check_path(dataset_dir, progress=progress)
    print("\n" + report.format())
    return report.ok


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (for printed commands)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def next_commands(dataset_dir: str | Path, versions: Iterable[str], videos: str | Path | None = None,
                  has_features: bool = False, script_dir: str = "data_scripts") -> list[str]:
    """The commands to run after preparing ``dataset_dir`` (extraction, check, pack, train)."""
    dataset = str(dataset_dir)
    version = "json_update" if "json_update" in set(versions) else (sorted(versions) or ["json"])[0]
    commands = []
    if not has_features:
        commands.append(f"python {script_dir}/extract_features.py --videos {videos or 'PATH/TO/VIDEOS'} "
                        f"--dataset {dataset} --annotated-only --keep-going")
    commands += [f"mcd data check {dataset}",
                 f"mcd data pack {dataset}",
                 f"mcd train --data {dataset} --preset full --set data.annotations={version} --out runs/mcd_music_avqa"]
    return commands
