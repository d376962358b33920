"""Annotation formats: MUSIC-AVQA (open-ended, 42 answers) and AVQA (four-option multiple choice).

Both formats feed the same path (packed features, text cache, :class:`~mcdlib.data.dataset.AVQADataset`,
the one training loop, the evaluation); an :class:`AnnotationFormat` says what differs:

=====================  ======================================  ======================================
                       MUSIC-AVQA (``music_avqa``)             AVQA (``avqa``)
=====================  ======================================  ======================================
split file             ``<annotations>/avqa-<split>.json``     ``<annotations>/<split>_qa.json``
record                 :class:`~mcdlib.data.music_avqa.Question`  :class:`~mcdlib.data.avqa.AvqaQuestion`
answers                42-way classification (``AnswerVocab``)  the question's 4 options (``OptionVocab``)
cells / table          9 (scenario, type) cells, 13 lines      (type, relation) cells; types, relations
keywords               template fillers                        content words of the question
type labels            scenario, type                          question type, question relation
=====================  ======================================  ======================================

``DataConfig.format`` is ``auto`` by default: :func:`detect_format` looks at the annotation
folder (``<root>/<annotations>/``): ``*_qa.json`` files mean AVQA, ``avqa-*.json`` files
MUSIC-AVQA (a folder holding both is an error asking to set ``data.format``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcdlib.data import avqa
from mcdlib.data.music_avqa import load_split, read_annotations, read_records, resolve_annotations, split_path
from mcdlib.data.report_scheme import MUSIC_AVQA_SCHEME, ReportScheme
from mcdlib.data.vocab import AnswerVocab
from mcdlib.errors import AnnotationError, ConfigError

MUSIC_AVQA, AVQA = "music_avqa", "avqa"
#: the annotation formats (values of ``DataConfig.format`` besides ``auto``)
FORMATS: tuple[str, ...] = (MUSIC_AVQA, AVQA)


def detect_format(root: str | Path, annotations: str = "auto") -> str:
    """The format of a dataset's annotation folder (``auto``: resolved as
    :func:`~mcdlib.data.music_avqa.resolve_annotations` does): ``avqa`` when it holds
    ``*_qa.json`` files, else ``music_avqa`` (also when it holds nothing yet: the reader then
    names the missing file)."""
    folder = Path(root) / resolve_annotations(root, annotations)
    music = sorted(folder.glob("avqa-*.json"))
    choices = sorted(folder.glob(f"*{avqa.SPLIT_SUFFIX}"))
    if music and choices:
        raise AnnotationError(f"{folder}: holds both MUSIC-AVQA files ({music[0].name}) and AVQA files "
                              f"({choices[0].name}); set data.format=music_avqa or data.format=avqa "
                              "(--set data.format=...)")
    return AVQA if choices else MUSIC_AVQA


def resolve_format(cfg) -> str:
    """``cfg.format`` (a DataConfig), with ``auto`` resolved by :func:`detect_format`."""
    name = getattr(cfg, "format", "auto") or "auto"
    if name == "auto":
        return detect_format(cfg.root, cfg.annotations)
    if name not in FORMATS:
        raise ConfigError(f"data.format={name!r}; choose auto, {', '.join(FORMATS)}")
    return name


class AnnotationFormat:
    """What a dataset format contributes to :class:`~mcdlib.data.dataset.AVQADataset`."""

    name: str = ""
    title: str = ""
    multiple_choice: bool = False
    #: text objects per question at least (batches of every split of a format have this K or more)
    min_objects: int = 2

    def split_path(self, root: str | Path, split: str, annotations: str) -> Path:
        raise NotImplementedError

    def load_split(self, cfg, split: str) -> list:
        raise NotImplementedError

    def scheme(self, cfg) -> ReportScheme:
        raise NotImplementedError

    def answer_vocab(self, cfg):
        raise NotImplementedError

    def extra_vocab_words(self, cfg) -> list[list[str]]:
        """Word lists appended to the train split's question vocabulary."""
        raise NotImplementedError

    def question_len(self, cfg) -> int:
        """Length of ``q_ids`` (equal for every split of a dataset)."""
        return int(cfg.max_question_tokens)

    def vocab_tag(self, cfg) -> str:
        """Tells cached question vocabularies of different formats / annotation folders apart."""
        return f"{resolve_annotations(cfg.root, cfg.annotations)}-{cfg.train_split}"


class MusicAvqaFormat(AnnotationFormat):
    name, title = MUSIC_AVQA, "MUSIC-AVQA"

    def __init__(self) -> None:
        from mcdlib.data.dataset import TEMPLATE_MAX_OBJECTS

        self.min_objects = TEMPLATE_MAX_OBJECTS

    def split_path(self, root, split, annotations):
        return split_path(root, split, annotations)

    def load_split(self, cfg, split):
        return load_split(cfg.root, split, cfg.annotations, cfg.duplicates)

    def scheme(self, cfg):
        return MUSIC_AVQA_SCHEME

    def answer_vocab(self, cfg):
        return AnswerVocab(order=cfg.answer_order, unknown=cfg.unknown_answers)

    def extra_vocab_words(self, cfg):
        from mcdlib.data.dataset import template_word_lists

        return template_word_lists()


class AvqaFormat(AnnotationFormat):
    name, title = AVQA, "AVQA"
    multiple_choice = True

    def split_path(self, root, split, annotations):
        return avqa.avqa_split_path(root, split, annotations)

    def load_split(self, cfg, split):
        return avqa.load_avqa_split(cfg.root, split, cfg.annotations, cfg.duplicates)

    def all_questions(self, cfg) -> list[avqa.AvqaQuestion]:
        """The questions of every split file of the annotation folder."""
        files = avqa.avqa_split_files(cfg.root, cfg.annotations)
        return [q for path in files.values() for q in avqa.read_avqa_cached(path, cfg.duplicates)]

    def scheme(self, cfg):
        """Cells over the relations of every split file (equal for every split of the dataset)."""
        return avqa.scheme_of(self.all_questions(cfg))

    def answer_vocab(self, cfg):
        return avqa.OptionVocab()

    def extra_vocab_words(self, cfg):
        """The words of the other splits: appended after the train words, they get embeddings that
        training never updates (the unknown-word behaviour), so val questions always encode."""
        return [list(q.tokens) for q in self.all_questions(cfg)]

    def question_len(self, cfg):
        """``data.max_question_tokens`` or the longest question of any split, whichever is larger
        (free-form questions are never truncated)."""
        longest = max((len(q.tokens) for q in self.all_questions(cfg)), default=0)
        return max(int(cfg.max_question_tokens), longest)

    def vocab_tag(self, cfg):
        return f"avqa-{super().vocab_tag(cfg)}"


_FORMATS: dict[str, AnnotationFormat] = {}


def get_format(name_or_cfg: Any) -> AnnotationFormat:
    """The :class:`AnnotationFormat` of a format name or of a DataConfig (``auto`` resolved)."""
    name = name_or_cfg if isinstance(name_or_cfg, str) else resolve_format(name_or_cfg)
    if name not in _FORMATS:
        if name == MUSIC_AVQA:
            _FORMATS[name] = MusicAvqaFormat()
        elif name == AVQA:
            _FORMATS[name] = AvqaFormat()
        else:
            raise ConfigError(f"unknown annotation format {name!r}; choose one of {', '.join(FORMATS)}")
    return _FORMATS[name]


def file_format(path: str | Path) -> str:
    """The format of one annotation file, from its records (``multi_choice`` means AVQA)."""
    return AVQA if avqa.looks_like_avqa(read_records(path)) else MUSIC_AVQA


def read_annotation_file(path: str | Path, duplicates: str = "first") -> list:
    """Read one annotation file of either format (detected from its records)."""
    if file_format(path) == AVQA:
        return avqa.read_avqa_annotations(path, duplicates)
    return read_annotations(path, duplicates)


def scheme_of_questions(questions) -> ReportScheme:
    """The reporting scheme of parsed questions (AVQA records carry options)."""
    questions = list(questions)
    if questions and isinstance(questions[0], avqa.AvqaQuestion):
        return avqa.scheme_of(questions)
    return MUSIC_AVQA_SCHEME
