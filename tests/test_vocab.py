"""Answer and question vocabularies (mcdlib.data.vocab)."""

from __future__ import annotations

import pytest

from mcdlib.data.music_avqa import make_question
from mcdlib.data.vocab import REFERENCE_ANSWERS, UNKNOWN_ANSWER, AnswerVocab, QuestionVocab
from mcdlib.errors import VocabularyError


def test_reference_order_matches_the_published_indices():
    vocab = AnswerVocab()
    assert len(vocab) == 42 == len(set(vocab.answers))
    assert [vocab.index(a) for a in ("two", "yes", "more than ten", "ten", "suona")] == [0, 7, 20, 33, 41]
    assert vocab.answer(30) == "acoustic_guitar"


def test_sorted_order():
    vocab = AnswerVocab(order="sorted")
    assert vocab.answers == sorted(REFERENCE_ANSWERS)
    assert vocab.index("accordion") == 0


def test_unknown_answer_error_names_answer_and_question():
    with pytest.raises(VocabularyError, match=r"answer 'banana' \(question_id 12\) is not among the 42"):
        AnswerVocab().index("banana", question_id=12)
    q = make_question(5, "v", "Is there a voiceover?", [], "maybe")
    with pytest.raises(VocabularyError, match="question_id 5"):
        AnswerVocab().encode([q])


def test_unknown_class_is_explicit_and_last():
    vocab = AnswerVocab(unknown="unknown")
    assert len(vocab) == 43 and vocab.answers[-1] == UNKNOWN_ANSWER
    assert vocab.index("banana") == 42 == vocab.index(UNKNOWN_ANSWER)
    assert "banana" not in vocab and UNKNOWN_ANSWER not in vocab and "two" in vocab


def test_bad_options_and_answer_lists():
    with pytest.raises(VocabularyError, match="unknown answer order"):
        AnswerVocab(order="alphabetical")
    with pytest.raises(VocabularyError, match="duplicates"):
        AnswerVocab(answers=["yes", "no", "yes"])


@pytest.mark.parametrize("kwargs", [{}, {"order": "sorted", "unknown": "unknown"}, {"answers": ["b", "a"]}])
def test_answer_vocab_json_roundtrip(tmp_path, kwargs):
    vocab = AnswerVocab(**kwargs)
    loaded = AnswerVocab.load(vocab.save(tmp_path / "answers.json"))
    assert loaded == vocab and loaded.answers == vocab.answers


def test_question_vocab_first_appearance_order_and_padding():
    qs = [make_question(1, "v", "Is the <Object> louder than the <Object>?", ["piano", "cello"], "yes"),
          make_question(2, "v", "Is there a <Object> sound?", ["piano"], "no")]
    vocab = QuestionVocab.build(qs)
    assert vocab.words == ["<pad>", "Is", "the", "piano", "louder", "than", "cello", "there", "a", "sound"]
    assert vocab.encode(qs[1].tokens) == [1, 7, 8, 3, 9] + [0] * 9
    assert vocab.decode(vocab.encode(qs[0].tokens, max_len=8)) == list(qs[0].tokens)
    assert QuestionVocab.build([("a", "b"), ("b", "c")]).words == ["<pad>", "a", "b", "c"]


def test_question_vocab_errors():
    vocab = QuestionVocab.build([("a", "b")])
    with pytest.raises(VocabularyError, match=r"question_id 9: word 'zzz' is not in the 3-word"):
        vocab.encode(["a", "zzz"], question_id=9)
    with pytest.raises(VocabularyError, match="3 tokens .* exceed max_len 2"):
        vocab.encode(["a", "b", "a"], max_len=2)
    with pytest.raises(VocabularyError, match="starts with '<pad>'"):
        QuestionVocab(["a"])


def test_question_vocab_json_roundtrip_and_bad_file(tmp_path):
    vocab = QuestionVocab.build([("How", "many"), ("many", "drum")])
    assert QuestionVocab.load(vocab.save(tmp_path / "words.json")) == vocab
    (tmp_path / "bad.json").write_text("{\"kind\": \"answers\"}")
    with pytest.raises(VocabularyError, match=r"bad\.json: not a question vocabulary"):
        QuestionVocab.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(VocabularyError, match=r"broken\.json: not valid JSON at line 1"):
        AnswerVocab.load(tmp_path / "broken.json")
