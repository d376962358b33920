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

    def has(self, *variants: str) -> list[str]:
        return [v for v in variants if v not in self.rows]

    def mean(self, variant: str, column: str) -> float:
        value = self.rows[variant].get(column, (None, None))[0]
        if value is None:
            raise KeyError(f"{variant!r} has no value for {column!r}")
        return float(value)

    def std(self, variant: str, column: str) -> float | None:
        """The std over seeds, or None when that variant has a single seed."""
        if int(self.rows[variant].get("seeds", 1)) < 2:
            return None
        std = self.rows[variant].get(column, (None, None))[1]
        return None if std is None else float(std)

    def noise(self, pairs: list[tuple[str, str]]) -> float | None:
        stds = [self.std(v, c) for v, c in pairs]
        return None if any(s is None for s in stds) else max(stds)


def _verdict(claim: str, margin: float, noise: float | None, evidence: str) -> Verdict:
    beyond = None if noise is None else abs(margin) > noise
    spread = "single seed" if noise is None else f"seed spread {noise:.2f}"
    return Verdict(claim, HELD if margin > 0 else NOT_HELD, f"{evidence}; margin {margin:+.2f} ({spread})",
                   margin, noise, beyond)


def check_expectations(table: "AblationTable", reference: str = "mcd") -> list[Verdict]:
    """One :class:`Verdict` per expectation, in the order of the module docstring."""
    m = _Means(table)
    out: list[Verdict] = []

    def judge(claim: str, needs: tuple[str, ...], verdict: Callable[[], Verdict]) -> None:
        missing = m.has(reference, *needs)
        if missing:
            out.append(Verdict(claim, NOT_TESTED, f"the table lacks {', '.join(missing)}"))
        else:
            out.append(verdict())

    def beats(other: str) -> Verdict:
        a, b = m.mean(reference, OVERALL), m.mean(other, OVERALL)
        return _verdict(f"{reference} beats {other} overall", a - b,
                        m.noise([(reference, OVERALL), (other, OVERALL)]), f"{a:.2f} vs {b:.2f}")

    def hurts_most(variant: str, scenario: str, claim: str) -> Verdict:
        drops = {s: m.mean(reference, s) - m.mean(variant, s) for s in SCENARIOS}
        runner_up = max(drops[s] for s in SCENARIOS if s != scenario)
        noise = m.noise([(reference, scenario), (variant, scenario)])
        evidence = "drop vs " + reference + ": " + ", ".join(f"{s} {d:+.2f}" for s, d in drops.items())
        return _verdict(claim, drops[scenario] - runner_up, noise, evidence)

    def wider_gap(variant: str) -> Verdict:
        a, b = m.mean(variant, "gap"), m.mean(reference, "gap")
        return _verdict(f"{variant} has a larger train-val gap than {reference}", a - b,
                        m.noise([(variant, "gap"), (reference, "gap")]), f"gap {a:.2f} vs {b:.2f}")

    for other in ("late", "qonly", "inputs_question_only"):
        judge(f"{reference} beats {other} overall", (other,), lambda o=other: beats(o))
    judge("no audio (inputs_question_visual) hurts Audio questions most", ("inputs_question_visual",),
          lambda: hurts_most("inputs_question_visual", AUDIO,
                             "no audio (inputs_question_visual) hurts Audio questions most"))
    judge("no vision (inputs_question_audio) hurts Visual questions most", ("inputs_question_audio",),
          lambda: hurts_most("inputs_question_audio", VISUAL,
                             "no vision (inputs_question_audio) hurts Visual questions most"))
    for fusion in ("fusion_concat", "fusion_add"):
        judge(f"{fusion} has a larger train-val gap than {reference}", (fusion,), lambda f=fusion: wider_gap(f))
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
