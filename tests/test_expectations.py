"""The expectations of the study: labels (KNOWN vs ours), the comparisons behind each, and how
their verdicts combine (mcdlib.train.expectations is a thin view of mcdlib.train.study)."""

from __future__ import annotations

from mcdlib.train import expectations as ex
from mcdlib.train import study as st
from mcdlib.train.study import Comparison, ComparisonResult, ExpectationResult, PairedDifference


def test_only_the_decision_level_fusion_claim_is_known():
    known = [e for e in ex.EXPECTATIONS if e.label == ex.KNOWN]
    assert known and all("fusion" in e.text and e.comparisons[0].metric == "gap" for e in known)
    assert all("overfit" in e.note or "overfitting" in e.note for e in known)
    assert {e.label for e in ex.EXPECTATIONS} == {ex.KNOWN, ex.OURS}
    # every comparison behind an expectation is a headline one (5 seeds)
    assert all(c.headline and c.seeds_wanted == st.HEADLINE_SEEDS for e in ex.EXPECTATIONS for c in e.comparisons)
    audio = next(e for e in ex.EXPECTATIONS if "removing audio" in e.text)
    assert [c.metric for c in audio.comparisons] == ["drop[Audio (all)] - drop[Visual (all)]",
                                                     "drop[Audio (all)] - drop[Audio-Visual (all)]"]


def _result(verdict: str) -> ComparisonResult:
    return ComparisonResult(Comparison("mcd", "x", "Overall"), PairedDifference(1.0, (0.5, 1.5), 5, verdict), [0])


def test_an_expectation_holds_only_when_every_comparison_held():
    e = ex.EXPECTATIONS[-1]
    combine = lambda *vs: ExpectationResult(e, [_result(v) for v in vs]).verdict  # noqa: E731
    assert combine(ex.HELD, ex.HELD) == ex.HELD
    assert combine(ex.HELD, ex.NOT_SHOWN) == ex.NOT_SHOWN
    assert combine(ex.HELD, ex.OPPOSITE) == ex.OPPOSITE
    assert combine(ex.OPPOSITE, ex.NOT_TESTED) == ex.NOT_TESTED
    md = ex.expectations_markdown(ex.check_expectations([]))
    assert md.count("| not tested |") == len(ex.EXPECTATIONS) and "| KNOWN |" in md
