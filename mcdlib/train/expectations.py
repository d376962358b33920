"""The expectations of the study and their verdicts: a thin view of :mod:`mcdlib.train.study`.

Every measure and every verdict lives in :mod:`mcdlib.train.study` (one place); this module
only names what concerns the expectations, for readers who look for them here:

* :data:`EXPECTATIONS` — each a claim made of paired comparisons, labelled ``KNOWN`` (the
  paper's: only "decision-level fusion overfits") or ``ours`` (mcdlib's hypotheses);
* :func:`check_expectations` — the verdicts (``held`` / ``not shown`` / ``opposite`` /
  ``not tested``) from comparison results (:func:`mcdlib.train.study.study` computes both);
* :func:`expectations_markdown` — the table ``mcd ablate`` writes into ``ablation.md``.
"""

from mcdlib.train.study import (EXPECTATIONS, HELD, KNOWN, NOT_SHOWN, NOT_TESTED, OPPOSITE, OURS, Expectation,
                                ExpectationResult, check_expectations, expectations_markdown)

__all__ = ["EXPECTATIONS", "HELD", "KNOWN", "NOT_SHOWN", "NOT_TESTED", "OPPOSITE", "OURS", "Expectation",
           "ExpectationResult", "check_expectations", "expectations_markdown"]
