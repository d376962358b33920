"""The MUSIC-AVQA reader on small hand-written files (mcdlib.data.music_avqa)."""

from __future__ import annotations

import json
import warnings

import pytest

from mcdlib.data.music_avqa import (
    DuplicateQuestionWarning, Question, find_duplicates, load_split, make_question, natural_text,
    read_annotations, reference_tokens, to_record, write_annotations,
)
from mcdlib.errors import AnnotationError, McdError

RECORD = {
    "video_id": "00000100", "question_id": 35, "type": "[\"Audio-Visual\", \"Counting\"]",
    "question_content": "How many sounding <Object> in the video\uff1f", "templ_values": "[\"violin\"]",
    "question_deleted": 0, "anser": "three",
}


def write_raw(path, records_or_text):
    text = records_or_text if isinstance(records_or_text, str) else json.dumps(records_or_text)
    path.write_text(text, encoding="utf-8")
    return path


def record(**changes):
    out = dict(RECORD)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- parsing


def test_reads_string_encoded_type_and_values_with_full_width_mark(tmp_path):
    (q,) = read_annotations(write_raw(tmp_path / "a.json", [RECORD]))
    assert isinstance(q, Question)
    assert (q.question_id, q.video_id, q.answer) == (35, "00000100", "three")
    assert q.cell == ("Audio-Visual", "Counting") == q.type_labels
    assert q.keywords == ("violin",) == q.templ_values
    assert q.tokens == ("How", "many", "sounding", "violin", "in", "the", "video")
    assert q.text == "How many sounding violin in the video?"
    assert q.template == RECORD["question_content"]  # kept as in the file


def test_trailing_space_template_and_empty_values(tmp_path):
    recs = [record(question_content="Are there <Object> and <Object> sound? ", templ_values="[\"piano\", \"flute\"]",
                   type="[\"Audio\", \"Counting\"]", anser="yes"),
            record(question_id=36, question_content="Where is the performance?", templ_values="[]",
                   type="[\"Visual\", \"Location\"]", anser="indoor")]
    a, b = read_annotations(write_raw(tmp_path / "a.json", recs))
    assert a.tokens == ("Are", "there", "piano", "and", "flute", "sound")
    assert a.text == "Are there piano and flute sound?"
    assert b.tokens == ("Where", "is", "the", "performance") and b.keywords == ()


def test_reference_tokenisation_replaces_whole_tokens_containing_angle_bracket():
    # the last token loses its last character before substitution, as in the reference code
    assert reference_tokens("Which instrument makes sounds <BA> the <Object>?", ["before", "acoustic_guitar"]) == (
        "Which", "instrument", "makes", "sounds", "before", "the", "acoustic_guitar")
    with pytest.raises(ValueError):
        reference_tokens("Is the <Object> louder than the <Object>?", ["piano"])
    assert natural_text("What is the <LR> instrument of the <FL> sounding instrument?", ["left", "first"]) == (
        "What is the left instrument of the first sounding instrument?")


def test_python_literal_values_and_answer_key_alias(tmp_path):
    rec = record(templ_values="['cello']", anser=None)
    rec["answer"] = "two"
    (q,) = read_annotations(write_raw(tmp_path / "a.json", [rec]))
    assert q.keywords == ("cello",) and q.answer == "two"


def test_write_then_read_roundtrip(tmp_path):
    qs = [make_question(1, "v1", "Where is the <LL> instrument?", ["loudest"], "left"),
          make_question(2, "v2", "Is there a voiceover?", [], "no")]
    assert to_record(qs[0])["type"] == "[\"Audio-Visual\", \"Location\"]"
    assert read_annotations(write_annotations(qs, tmp_path / "json" / "avqa-val.json")) == qs
    assert load_split(tmp_path, "val") == qs


# --------------------------------------------------------------------------- duplicates


@pytest.fixture
def dup_file(tmp_path):
    recs = [record(question_id=1, anser="one"), record(question_id=2, anser="two"),
            record(question_id=1, anser="three")]
    return write_raw(tmp_path / "dup.json", recs)


@pytest.mark.parametrize("policy, expected", [
    ("first", [(1, "one"), (2, "two")]),
    ("last", [(2, "two"), (1, "three")]),
    ("drop", [(2, "two")]),
])
def test_duplicate_policies_warn_and_resolve(dup_file, policy, expected):
    with pytest.warns(DuplicateQuestionWarning, match=r"1 question ids occur more than once \(1; 1 with different"):
        qs = read_annotations(dup_file, duplicates=policy)
    assert [(q.question_id, q.answer) for q in qs] == expected


def test_duplicate_policy_error_names_file_and_id(dup_file):
    with pytest.raises(AnnotationError, match=r"dup\.json: 1 question ids occur more than once \(1\)"):
        read_annotations(dup_file, duplicates="error")
    with pytest.raises(AnnotationError, match="unknown duplicates policy"):
        read_annotations(dup_file, duplicates="keep")


def test_no_warning_without_duplicates(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qs = read_annotations(write_raw(tmp_path / "a.json", [RECORD]))
    assert find_duplicates(qs) == {}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("content, message", [
    ("", r"bad\.json: the file is empty"),
    ("   \n", r"the file is empty"),
    ("[{\"video_id\": \"1\",", r"bad\.json: not valid JSON at line 1, column \d+.*truncated"),
    ("nonsense", r"not valid JSON at line 1, column 1"),
    ("{\"a\": 1}", r"top-level JSON value is a dict, expected a list"),
    ("[]", r"holds no question records"),
    ("[3]", r"record 0 is a int, expected a JSON object"),
])
def test_unreadable_files(tmp_path, content, message):
    with pytest.raises(AnnotationError, match=message):
        read_annotations(write_raw(tmp_path / "bad.json", content))


@pytest.mark.parametrize("changes, message", [
    ({"anser": None}, r"record 1 \(question_id 35\): missing key\(s\) 'anser'"),
    ({"video_id": None}, r"record 1 \(question_id 35\): missing key\(s\) 'video_id'"),
    ({"type": "[\"Audio\"]"}, r"'type' must be a two-element list"),
    ({"type": "Audio Counting"}, r"'type' must be a two-element list.*not a JSON list"),
    ({"type": "[\"Audio\", \"Temporal\"]"}, r"not a MUSIC-AVQA cell"),
    ({"templ_values": "[\"violin\""}, r"templ_values is not parseable"),
    ({"templ_values": "[]"}, r"fewer templ_values than placeholders"),
    ({"question_id": "abc"}, r"question_id must be an integer"),
])
def test_malformed_records_name_file_record_and_question_id(tmp_path, changes, message):
    path = write_raw(tmp_path / "bad.json", [record(question_id=34), record(**changes)])
    with pytest.raises(AnnotationError, match=message) as excinfo:
        read_annotations(path)
    assert str(excinfo.value).startswith(f"{path}: record 1")


def test_missing_file_and_split_list_available_ones(tmp_path):
    with pytest.raises(AnnotationError, match="annotation file not found"):
        read_annotations(tmp_path / "nope.json")
    write_raw((tmp_path / "json").mkdir() or tmp_path / "json" / "avqa-val.json", [RECORD])
    with pytest.raises(AnnotationError, match=r"split 'test' not found; .* holds avqa-val\.json"):
        load_split(tmp_path, "test")
    with pytest.raises(McdError, match="json_update"):
        load_split(tmp_path, "test", annotations="json_update")
