"""User-facing errors.

Every error a user can cause (bad file, bad option, bad shape) is raised as a subclass of
:class:`McdError` with a message that names the file / id at fault and says what to do.
The command line catches :class:`McdError`, prints the message (no traceback) and exits
with status 2; notebooks show the same message.
"""

from __future__ import annotations


class McdError(Exception):
    """Base class of every user-facing mcdlib error."""

    exit_code = 2


class ConfigError(McdError, ValueError):
    """A configuration key or value is invalid."""


class AnnotationError(McdError, ValueError):
    """An annotation file is missing, malformed or inconsistent."""


class VocabularyError(McdError, KeyError):
    """A word or answer is outside its vocabulary."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FeatureError(McdError, ValueError):
    """A feature file or packed store is missing, malformed or inconsistent."""


class PredictionError(McdError, ValueError):
    """A predictions file does not match the annotations it is evaluated against."""


class RunError(McdError, RuntimeError):
    """A training run, checkpoint or resume folder is inconsistent (or training diverged)."""
