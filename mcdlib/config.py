"""Typed configuration: dataclasses, named presets, YAML in/out and ``key=value`` overrides.

One config system for the whole package. A :class:`Config` holds three sections
(:class:`DataConfig`, :class:`ModelConfig`, :class:`TrainConfig`); every CHOICE of
``docs/MCD_FORMULATION.md`` is a field of :class:`ModelConfig` with its allowed values listed in the
field's ``choices`` metadata. Presets are named override sets applied to the defaults:

* ``tiny``      — seconds, for tests and smoke runs;
* ``classroom`` — a laptop CPU in minutes (the notebook defaults);
* ``full``      — the research-scale setting, for a GPU.

>>> cfg = get_preset("tiny")
>>> cfg = apply_overrides(cfg, ["model.fusion=concat", "train.epochs=3"])
>>> save_yaml(cfg, "run/config.yaml"); load_config("run/config.yaml") == cfg
True

Unknown keys are an error that names the key and the closest valid one. Every value is checked
where it enters (on load and on override), in one place, from the field's metadata:

* ``choice(default, choices, help)`` — one of a fixed set of values;
* ``doc(default, help, min=, max=, min_exclusive=, max_exclusive=)`` — a number in a range
  (for a list/tuple, every element); the shorthands :func:`positive` (an integer >= 1 or a
  number > 0), :func:`non_negative` (>= 0) and :func:`probability` (in [0, 1], or [0, 1) with
  ``below_one=True``) cover the common cases;
* ``doc(default, help, name=True)`` — a string used as a file name component (a feature
  folder, a split name): no path separator, no leading dot, no control character
  (:func:`mcdlib.utils.names.name_problem`).

A value out of range is a :class:`~mcdlib.errors.ConfigError` naming the key, the value and
the allowed range, e.g. ``train.lr: -1.0 is out of range; allowed: > 0``. A key added later
gets its checks by declaring them here, never where the value is first used. The generic
helpers (:func:`from_dict`, :func:`to_dict`, :func:`apply_overrides`, :func:`load_yaml`,
:func:`save_yaml`) work on any dataclass, so other parts of the package (the music-scenes
profiles, for instance) use the same machinery for their own typed settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mcdlib.errors import ConfigError
from mcdlib.utils.names import name_problem

T = TypeVar("T")


def choice(default: Any, choices: tuple, help: str = "") -> Any:
    """A dataclass field restricted to ``choices`` (checked on load and on override)."""
    return field(default=default, metadata={"choices": tuple(choices), "help": help})


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric field (bounds inclusive unless marked exclusive)."""

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):  # NaN or infinity is never a setting
            return False
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            return False
        if self.max is not None and (value >= self.max if self.max_exclusive else value > self.max):
            return False
        return True

    def __str__(self) -> str:
        low = None if self.min is None else f"{'>' if self.min_exclusive else '>='} {self.min:g}"
        high = None if self.max is None else f"{'<' if self.max_exclusive else '<='} {self.max:g}"
        if low and high:
            return f"{'(' if self.min_exclusive else '['}{self.min:g}, {self.max:g}{')' if self.max_exclusive else ']'}"
        return low or high or "any value"


def doc(default: Any, help: str, *, min: float | None = None, max: float | None = None,
        min_exclusive: bool = False, max_exclusive: bool = False, name: bool = False) -> Any:
    """A dataclass field with a help text (shown by ``mcd config --keys``) and optionally a
    range (``min``/``max``, inclusive unless ``*_exclusive``) or ``name=True`` (a file name
    component), checked on load and on override."""
    metadata: dict[str, Any] = {"help": help}
    if min is not None or max is not None:
        metadata["range"] = Range(min, max, min_exclusive, max_exclusive)
    if name:
        metadata["name"] = True
    return field(default=default, metadata=metadata)


def positive(default: Any, help: str) -> Any:
    """An integer field >= 1, or a float field > 0 (by the type of ``default``)."""
    if isinstance(default, int):
        return doc(default, help, min=1)
    return doc(default, help, min=0, min_exclusive=True)


def non_negative(default: Any, help: str) -> Any:
    """A numeric field >= 0."""
    return doc(default, help, min=0)


def probability(default: float, help: str, below_one: bool = False) -> Any:
    """A float field in [0, 1] (``below_one``: [0, 1), e.g. a dropout rate)."""
    return doc(default, help, min=0.0, max=1.0, max_exclusive=below_one)


# --------------------------------------------------------------------------- sections


@dataclass
class DataConfig:
    """Where the data is and how questions and features are turned into batches."""

    root: str = doc("data/music_scenes/classroom", "dataset folder holding json/ and feats/")
    annotations: str = doc("auto", "annotation sub-folder: auto (json_update when the dataset has it, else json), json (original) or json_update (corrected; what papers since 2023 report)", name=True)
    train_split: str = doc("train", "split names: <annotations>/avqa-<split>.json", name=True)
    val_split: str = doc("val", "", name=True)
    test_split: str = doc("test", "", name=True)
    audio_feature: str = doc("auto", "feature folder under feats/ for audio [S, Da] (auto: manifest.json's, else vggish)", name=True)
    visual_feature: str = doc("auto", "feature folder under feats/ for frames [S, Dv] (auto: manifest.json's, else res18)", name=True)
    visual_grid_feature: str = doc("auto", "feature folder for grid features [S, G, Dv] for AVST (auto: manifest.json's, else none; 'none' to skip)", name=True)
    seconds: int = non_negative(0, "nominal video length in seconds (0 = read it from manifest.json, else 60)")
    segments: int = positive(10, "segments sampled per video (every seconds/segments-th second)")
    text_encoder: str = choice("minilm", ("minilm", "vocab"), "question features: frozen MiniLM token features or word ids over the 93-word vocabulary")
    text_model: str = choice("minilm", ("minilm", "clip_vit_b32", "clip_vit_l14", "hash"), "frozen text encoder for question tokens and text objects (clip_*: CLIP's text tower from data.text_model_source; hash: a seeded random stand-in for fast smoke tests, not a language model)")
    text_model_source: str = doc("", "where a clip_* text_model loads from: a local folder holding a saved CLIPModel, or a hub name (default: openai/clip-vit-base-patch32 or -large-patch14, from the Hugging Face cache or, online, the hub)")
    max_question_tokens: int = positive(14, "question length in words for the vocabulary encoder (reference: 14)")
    answer_order: str = choice("reference", ("reference", "sorted"), "answer index order")
    unknown_answers: str = choice("error", ("error", "unknown"), "an answer outside the vocabulary: error, or map to an explicit <unk> class")
    duplicates: str = choice("first", ("first", "last", "drop", "error"), "policy for duplicated question ids (original version)")
    cache_dir: str = doc("", "folder for the question/text caches ('' = <root>/cache; when the dataset folder is "
                             "read-only, a per-user folder under ~/.cache/mcdlib is used instead, with a notice)")
    format: str = choice("auto", ("auto", "music_avqa", "avqa"), "annotation format: MUSIC-AVQA (<annotations>/avqa-<split>.json, 42 answers) or AVQA (<annotations>/<split>_qa.json, 4-option multiple choice); auto detects it from the files")


@dataclass
class ModelConfig:
    """The model and every CHOICE switch of docs/MCD_FORMULATION.md (defaults = mcdlib's formulation)."""

    name: str = choice("mcd", ("mcd", "qonly", "late", "avst"), "model family")
    d_model: int = positive(512, "width d")
    n_heads: int = positive(8, "attention heads")
    dropout: float = probability(0.1, "dropout inside attention/FFN blocks", below_one=True)
    modalities: str = choice("av", ("av", "a", "v", "none"), "which deep modality inputs the model sees (ablation)")
    # association block
    association: str = choice("joint", ("joint", "cross", "off"), "association block: joint self-attention over [v;a], per-modality self + cross attention, or none")
    association_layers: int = positive(2, "N, the number of stacked association blocks")
    contrastive: str = choice("last", ("last", "every", "off"), "audio-visual InfoNCE on the last block, every block, or off")
    tau: float = positive(0.07, "contrastive temperature")
    tau_learnable: bool = doc(False, "learn the temperature (log-parametrised)")
    min_tau: float = positive(0.01, "lower clamp of the contrastive temperature (matters with tau_learnable)")
    # aggregator
    aggregator_levels: str = choice("both", ("both", "low", "high"), "which levels the question attends to")
    aggregator_shared: bool = doc(True, "one aggregator for both branches (False: one per modality)")
    topk: int = non_negative(0, "keep only the top-k segments by the query's attention (0 = off)")
    text_objects: str = choice("keywords+types", ("keywords+types", "keywords", "types", "none"), "text objects fused by the aggregator")
    types_source: str = choice("label", ("label", "predicted"), "question types from the annotation (privileged) or predicted from the question")
    # semantic approximation
    sa_loss: str = choice("infonce", ("infonce", "kl", "mse", "off"), "semantic approximation loss")
    sa_teachers: str = choice("both", ("both", "audio", "visual"), "teachers distilled into the question point")
    teachers_detached: bool = doc(True, "stop gradients through the teachers (true: the teacher projections get no gradient from the SA loss)")
    sa_teacher_loss: str = choice("none", ("none", "av_infonce"), "what trains the teacher projections besides the SA loss: nothing, or an audio-visual InfoNCE between the teacher points (needs both teachers)")
    sa_tau: float = non_negative(0.0, "temperature of the semantic approximation's InfoNCE/KL (0 = reuse model.tau)")
    d_latent: int = positive(256, "latent size of the semantic approximation space")
    # header
    fusion: str = choice("none", ("none", "concat", "add"), "decision-level fusion of deep AV features into the answer vector (MCD: none)")
    header_dropout: float = probability(0.2, "dropout at the head of the prediction header", below_one=True)
    # building blocks
    ffn_expansion: int = positive(4, "width of the attention blocks' feed-forward, in multiples of d_model")
    ffn_activation: str = choice("gelu", ("gelu", "relu"), "activation of the attention blocks' feed-forward")
    init_std: float = non_negative(0.02, "std of the normal initialisation of the position and modality embeddings")
    # loss weights
    lambda_con: float = non_negative(0.5, "weight of the audio-visual contrastive loss")
    lambda_sa: float = non_negative(0.5, "weight of the semantic approximation loss")
    lambda_type: float = non_negative(0.5, "weight of the type classifier loss (types_source=predicted)")
    # baselines
    avst_match_weight: float = non_negative(0.5, "AVST positive/negative matching loss weight (reference: 0.5)")
    avst_grounding_epochs: int = non_negative(8, "AVST only: the first epochs (of train.epochs) train the matching loss alone, the reference's grounding pre-training; then the full objective with a fresh Adam and lr schedule (0 = one stage)")
    lstm_embed: int = positive(512, "word embedding size of the vocabulary (LSTM) question encoder")
    question_encoder: str = choice("auto", ("auto", "tokens", "lstm"), "MCD/qonly/late question input: frozen q_tokens, an LSTM over q_ids, or auto (the data's text_encoder: minilm -> tokens, vocab -> lstm); AVST always uses the LSTM")


@dataclass
class TrainConfig:
    """The one training loop (MCD, ablations and baselines alike)."""

    epochs: int = positive(30, "training epochs")
    batch_size: int = positive(64, "batch size (per process under DDP)")
    lr: float = positive(1e-4, "Adam learning rate")
    weight_decay: float = non_negative(0.0, "Adam weight decay")
    lr_step: int = positive(8, "step decay every lr_step epochs")
    lr_gamma: float = positive(0.1, "step decay factor")
    grad_clip: float = non_negative(0.0, "clip gradient norm (0 = off)")
    seed: int = non_negative(0, "random seed")
    device: str = doc("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    amp: str = choice("auto", ("auto", "off", "bf16", "fp16"), "mixed precision on CUDA (auto: bf16 where supported)")
    deterministic: bool | None = doc(None, "deterministic algorithms: null/auto (default) = on for the CPU (bit-reproducible runs), off on CUDA (faster kernels); true/false to force")
    progress: bool = doc(True, "progress bars (turn off in batch runs)")
    eval_every: int = positive(1, "validate every n epochs")
    eval_train: bool = doc(False, "also score the train split in eval mode whenever val is scored (metrics.jsonl 'train_eval': the train-val gap curve; one forward pass over the train split, about +25 % epoch time)")
    threads: int = non_negative(0, "torch CPU threads (0 = torch default)")


@dataclass
class Config:
    """A whole run: data, model and training settings."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = doc("full", "name of the preset these settings started from")


# --------------------------------------------------------------------------- presets

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "preset": "tiny",
        "data": {"root": "data/music_scenes/tiny"},
        "model": {"d_model": 32, "n_heads": 2, "d_latent": 16, "association_layers": 1, "lstm_embed": 32,
                  "avst_grounding_epochs": 1},
        "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "lr_step": 100, "threads": 1},
    },
    "classroom": {
        "preset": "classroom",
        "data": {"root": "data/music_scenes/classroom"},
        "model": {"d_model": 128, "n_heads": 4, "d_latent": 64, "association_layers": 2, "lstm_embed": 128,
                  "avst_grounding_epochs": 3},
        "train": {"epochs": 12, "batch_size": 64, "lr": 5e-4, "lr_step": 8},
    },
    "full": {"preset": "full"},
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str = "classroom") -> Config:
    """The defaults with the named preset applied."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{_suggest(name, PRESETS)}; choose one of {', '.join(PRESETS)}")
    return from_dict(Config, PRESETS[name])


# --------------------------------------------------------------------------- generic machinery


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about a malformed file."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML/CLI value to the field's type, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("auto", "null", "none", "~")):
            return None
        return _coerce(value, args[0], where)
    if origin in (list, tuple):
        (inner, *_rest) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        out = [_coerce(v, inner, where) for v in value]
        return tuple(out) if origin is tuple else out
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if as_float != int(as_float):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return "" if value is None else str(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return from_dict(tp, value, prefix=where + ".")
    return value


def _check_value(f: dataclasses.Field, value: Any, where: str) -> None:
    """The field's choices, range and file-name rule (see the module doc), or ConfigError."""
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"{where}: {value!r} is not allowed{_suggest(str(value), [str(c) for c in choices])}; "
            f"choose one of {', '.join(map(str, choices))}"
        )
    allowed = f.metadata.get("range")
    if allowed is not None and value is not None:
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if not allowed.contains(item):
                raise ConfigError(f"{where}: {value!r} is out of range; allowed: {allowed}"
                                  + (" (each element)" if isinstance(value, (list, tuple)) else ""))
    if f.metadata.get("name") and value:
        problem = name_problem(value)
        if problem:
            raise ConfigError(f"{where}: {value!r} {problem}; it is used as a file name, so give a plain "
                              "name (no '/', '\\', leading '.', '..' or control characters)")


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build ``cls`` from a (possibly partial, possibly nested) mapping; unknown keys are errors."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(f"unknown config key {prefix + key!r}{_suggest(key, fields)}; "
                              f"valid keys here: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            value = _coerce(data[name], hints[name], prefix + name)
            _check_value(f, value, prefix + name)
            kwargs[name] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A plain nested dict (YAML/JSON-ready) of a dataclass instance."""
    return dataclasses.asdict(obj)


def _set_dotted(obj: Any, dotted: str, raw: Any, prefix: str = "") -> Any:
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if head not in fields:
        flat = flat_keys(type(obj), prefix)
        full = prefix + dotted
        raise ConfigError(f"unknown config key {full!r}{_suggest(full, flat)}")
    f = fields[head]
    current = getattr(obj, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key {head!r} has no sub-keys (got {dotted!r})")
        return dataclasses.replace(obj, **{head: _set_dotted(current, rest, raw, prefix + head + ".")})
    tp = _hints(type(obj))[head]
    value = raw
    if isinstance(raw, str) and tp is not str:
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
    value = _coerce(value, tp, prefix + dotted)
    _check_value(f, value, prefix + dotted)
    return dataclasses.replace(obj, **{head: value})


def apply_overrides(obj: T, overrides: list[str] | dict[str, Any] | None) -> T:
    """Return a copy with ``key=value`` (dotted) overrides applied, e.g. ``model.fusion=concat``."""
    if not overrides:
        return obj
    items = overrides.items() if isinstance(overrides, dict) else [_split_override(o) for o in overrides]
    for key, value in items:
        obj = _set_dotted(obj, key.strip(), value)
    return obj


def _split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. model.fusion=concat)")
    key, value = text.split("=", 1)
    return key, value.strip()


def flat_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key of a dataclass type (for suggestions and help)."""
    out = []
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(flat_keys(tp, prefix + f.name + "."))
        else:
            out.append(prefix + f.name)
    return out


def describe(cls: type = None, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, default, help with choices) rows for documentation."""
    cls = cls or Config
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe(type(value), prefix + f.name + "."))
            continue
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text = f"{text} [{' | '.join(map(str, f.metadata['choices']))}]".strip()
        if f.metadata.get("range") is not None:
            text = f"{text} [{f.metadata['range']}]".strip()
        rows.append((prefix + f.name, value, text))
    return rows


def save_yaml(obj: Any, path: str | Path) -> Path:
    """Write a dataclass instance as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(obj), sort_keys=False))
    tmp.replace(path)
    return path


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read a dataclass of type ``cls`` from YAML; unknown keys are errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the file or regenerate it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level holds {type(data).__name__} {short_repr(data)}, expected a mapping of keys")
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: str | Path | None = None, preset: str | None = None,
                overrides: list[str] | None = None) -> Config:
    """The one entry point: a YAML file or a preset (default ``classroom``), then overrides.

    A YAML file may be partial; missing keys come from its ``preset:`` key (or the defaults).
    """
    if path is not None:
        path = Path(path)
        raw = {}
        if path.is_file():
            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML ({exc})") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
            if not isinstance(raw, dict):
                raise ConfigError(f"{path}: the top level holds {type(raw).__name__} {short_repr(raw)}, expected a mapping of "
                                  "config sections (data:, model:, train:); see `mcd config` for an example")
        base_name = preset or raw.get("preset") or "full"
        cfg = get_preset(base_name)
        file_cfg = load_yaml(Config, path)  # validates keys and types, names the file
        cfg = _merge(cfg, raw, file_cfg)
    else:
        cfg = get_preset(preset or "classroom")
    return apply_overrides(cfg, overrides)


def _merge(base: Any, raw: dict, parsed: Any) -> Any:
    """Overlay the keys present in ``raw`` (parsed values from ``parsed``) onto ``base``."""
    changes = {}
    for key, value in raw.items():
        sub = getattr(parsed, key)
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            changes[key] = _merge(getattr(base, key), value, sub)
        else:
            changes[key] = sub
    return dataclasses.replace(base, **changes)
