"""The issue's expectations about MCD, checked against an ablation table (tested, never forced).

Carried over from the paper's claims as hypotheses to test on whatever data the table comes from:

* MCD beats late fusion and the question-only models overall;
* removing the audio input (``inputs_question_visual``) hurts the *Audio* questions most, and
  removing the visual input (``inputs_question_audio``) the *Visual* ones;
* decision-level fusion (``fusion_concat`` / ``fusion_add``) shows a larger train − val gap than
  MCD's header without it (the paper's overfitting argument, KNOWN).

:func:`check_expectations` turns an :class:`~mcdlib.train.ablate.AblationTable` (from
:func:`~mcdlib.train.ablate.run_ablation` or read back with
:meth:`~mcdlib.train.ablate.AblationTable.read_csv`) into one :class:`Verdict` per expectation:
``held``, ``did NOT hold`` or ``not tested`` (a variant is missing from the table). Each verdict
also says whether its margin is larger than the seed spread: a margin smaller than the larger
standard deviation involved (or measured on a single seed) is marked as within noise, so it is
not read as a finding either way.

>>> from mcdlib.train.ablate import AblationTable
>>> table = AblationTable([{"variant": "mcd", "seeds": 3, "Overall": (57.0, 1.0)},
...                        {"variant": "late", "seeds": 3, "Overall": (52.0, 0.5)}], columns=("Overall",))
>>> [(v.expectation, v.verdict, v.beyond_noise) for v in check_expectations(table)][:1]
[('mcd beats late overall', 'held', True)]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from mcdlib.train.ablate import AblationTable

AUDIO, VISUAL, AUDIO_VISUAL, OVERALL = "Audio (all)", "Visual (all)", "Audio-Visual (all)", "Overall"
#: the three question groups whose drops are compared
SCENARIOS: tuple[str, ...] = (AUDIO, VISUAL, AUDIO_VISUAL)
HELD, NOT_HELD, NOT_TESTED = "held", "did NOT hold", "not tested"


@dataclass(frozen=True)
class Verdict:
    """One expectation checked against one table."""

    expectation: str
    verdict: str  # HELD, NOT_HELD or NOT_TESTED
    evidence: str  # the numbers behind the verdict
    margin: float | None = None  # by how much it held (> 0) or failed (< 0), in points
    noise: float | None = None  # the larger std over seeds involved (None: a single seed)
    #: True when |margin| exceeds the seed spread; None when not tested or measured on one seed
    beyond_noise: bool | None = None

    def as_row(self) -> dict:
        return asdict(self)


class _Means:
    """variant -> column -> (mean, std, seeds) view of an AblationTable."""

    def __init__(self, table: "AblationTable"):
        self.rows = {row["variant"]: row for row in table.rows}

    def missing(self, *variants: str) -> list[str]:
        return [v for v in variants if v not in self.rows]

    def mean(self, variant: str, column: str) -> float:
        value = self.rows[variant].get(column, (None, None))[0]
        if value is None:
            raise KeyError(f"{variant!r} has no value for {column!r}")
        return float(value)

    def noise(self, *pairs: tuple[str, str]) -> float | None:
        """The larger std over seeds of (variant, column) pairs; None when one has a single seed."""
        stds = []
        for variant, column in pairs:
            std = self.rows[variant].get(column, (None, None))[1]
            if int(self.rows[variant].get("seeds", 1)) < 2 or std is None:
                return None
            stds.append(float(std))
        return max(stds)


def check_expectations(table: "AblationTable", reference: str = "mcd") -> list[Verdict]:
    """One :class:`Verdict` per expectation, in the order of the module docstring."""
    m = _Means(table)

    def beats(other: str) -> tuple[float, float | None, str]:
        a, b = m.mean(reference, OVERALL), m.mean(other, OVERALL)
        return a - b, m.noise((reference, OVERALL), (other, OVERALL)), f"{a:.2f} vs {b:.2f}"

    def hurts_most(variant: str, scenario: str) -> tuple[float, float | None, str]:
        drops = {s: m.mean(reference, s) - m.mean(variant, s) for s in SCENARIOS}
        runner_up = max(drops[s] for s in SCENARIOS if s != scenario)
        evidence = f"drop vs {reference}: " + ", ".join(f"{s} {d:+.2f}" for s, d in drops.items())
        return drops[scenario] - runner_up, m.noise((reference, scenario), (variant, scenario)), evidence

    def wider_gap(variant: str) -> tuple[float, float | None, str]:
        a, b = m.mean(variant, "gap"), m.mean(reference, "gap")
        return a - b, m.noise((variant, "gap"), (reference, "gap")), f"gap {a:.2f} vs {b:.2f}"

    # (claim, the variant it needs besides the reference, how to measure it)
    checks: list[tuple[str, str, Callable[[], tuple[float, float | None, str]]]] = [
        *[(f"{reference} beats {o} overall", o, lambda o=o: beats(o)) for o in ("late", "qonly", "inputs_question_only")],
        ("no audio (inputs_question_visual) hurts Audio questions most", "inputs_question_visual",
         lambda: hurts_most("inputs_question_visual", AUDIO)),
        ("no vision (inputs_question_audio) hurts Visual questions most", "inputs_question_audio",
         lambda: hurts_most("inputs_question_audio", VISUAL)),
        *[(f"{f} has a larger train-val gap than {reference}", f, lambda f=f: wider_gap(f))
          for f in ("fusion_concat", "fusion_add")],
    ]
    out = []
    for claim, needs, measure in checks:
        missing = m.missing(reference, needs)
        if missing:
            out.append(Verdict(claim, NOT_TESTED, f"the table lacks {', '.join(missing)}"))
            continue
        try:
            margin, noise, evidence = measure()
        except KeyError as exc:  # e.g. an AVQA table has no Audio/Visual scenario columns
            out.append(Verdict(claim, NOT_TESTED, str(exc.args[0])))
            continue
        spread = "single seed" if noise is None else f"seed spread {noise:.2f}"
        out.append(Verdict(claim, HELD if margin > 0 else NOT_HELD, f"{evidence}; margin {margin:+.2f} ({spread})",
                           margin, noise, None if noise is None else abs(margin) > noise))
    return out


def expectations_markdown(verdicts: list[Verdict]) -> str:
    """A Markdown table of verdicts (what ``mcd ablate`` appends to ``ablation.md``)."""
    def noise_word(v: Verdict) -> str:
        if v.verdict == NOT_TESTED:
            return "-"
        return {True: "beyond the seed spread", False: "within the seed spread", None: "single seed"}[v.beyond_noise]

    lines = ["| expectation | in this table | margin vs noise | evidence |", "|---|---|---|---|"]
    lines += [f"| {v.expectation} | {v.verdict} | {noise_word(v)} | {v.evidence} |" for v in verdicts]
    return "\n".join(lines) + "\n"
