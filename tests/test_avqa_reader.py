"""The AVQA reader (mcdlib.data.avqa) and format detection (mcdlib.data.formats) on records in
the real AVQA format written by the tests."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from avqa_fixture import record, write_avqa_fixture
from mcdlib.config import DataConfig
from mcdlib.data.avqa import (QUESTION_TYPES, DuplicateQuestionWarning, avqa_scheme, content_words,
                              load_avqa_split, make_avqa_question, question_tokens, read_avqa_annotations,
                              to_avqa_record, write_avqa_annotations)
from mcdlib.data.formats import (AVQA, MUSIC_AVQA, detect_format, file_format, get_format, read_annotation_file,
                                 resolve_format)
from mcdlib.data.music_avqa import make_question, write_annotations
from mcdlib.errors import AnnotationError, ConfigError

GOOD = {"id": 7, "video_name": "-HG3Omg_89c_000030", "video_id": 341,
        "question_text": "  What is the main source of sound in the video? ",
        "multi_choice": ["dog", "car", "man", "acoustic guitar"], "answer": 3,
        "question_relation": "Both", "question_type": "Which"}


def write(tmp_path, records, name="val_qa.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_a_record_is_read_into_an_avqa_question(tmp_path):
    (q,) = read_avqa_annotations(write(tmp_path, [GOOD]))
    assert (q.question_id, q.video_id, q.video_number) == (7, "-HG3Omg_89c_000030", 341)
    assert q.text == "What is the main source of sound in the video?"
    assert q.options == ("dog", "car", "man", "acoustic guitar") and q.answer_index == 3
    assert q.answer == "acoustic guitar"
    assert q.tokens == ("what", "is", "the", "main", "source", "of", "sound", "in", "the", "video")
    assert q.keywords == ("main", "source", "sound")
    assert q.type_labels == q.cell == ("Which", "Both")


def test_tokens_and_content_words():
    assert question_tokens("Why is the DOG barking, 3 times?") == ("why", "is", "the", "dog", "barking", "3", "times")
    assert content_words(question_tokens("Why is the dog barking at the dog?")) == ("dog", "barking")
    assert content_words(()) == ()


def test_write_and_read_back_are_the_identity(tmp_path):
    questions = read_avqa_annotations(write(tmp_path, [GOOD, {**GOOD, "id": 8, "answer": 0}]))
    path = write_avqa_annotations(questions, tmp_path / "out" / "train_qa.json")
    assert read_avqa_annotations(path) == questions
    assert list(to_avqa_record(questions[0])) == list(GOOD)  # the 8 keys, in the order of the released files


@pytest.mark.parametrize("change, message", [
    ({"multi_choice": ["a", "b", "c"]}, "multi_choice must be a list of 4 non-empty strings"),
    ({"multi_choice": ["a", "b", "", "d"]}, "multi_choice must be a list of 4 non-empty strings"),
    ({"answer": 4}, "answer must be the index (0-3)"),
    ({"answer": True}, "answer must be the index (0-3)"),
    ({"answer": "x"}, "answer must be the index (0-3)"),
    ({"question_type": "Come from"}, "did you mean 'Come From'?"),
    ({"question_type": "How many"}, "valid types: Which, Come From"),
    ({"video_name": "../outside"}, "holds a path separator"),
    ({"video_name": ".hidden"}, "starts with a dot"),
    ({"video_name": 12}, "is a int, not a string"),
    ({"question_text": "  "}, "question_text must be a non-empty string"),
    ({"question_relation": ""}, "question_relation must be a non-empty string"),
    ({"id": 1.5}, "'id' must be an integer"),
    ({"video_id": "abc"}, "'video_id' must be an integer"),
])
def test_a_bad_record_names_the_file_record_id_and_fix(tmp_path, change, message):
    bad = {**GOOD, "id": 99, **change}
    path = write(tmp_path, [GOOD, bad])
    with pytest.raises(AnnotationError) as info:
        read_avqa_annotations(path)
    text = str(info.value)
    assert str(path) in text and f"record 1 (id {bad['id']})" in text and message in text


def test_missing_keys_are_listed_and_a_music_avqa_record_is_recognised(tmp_path):
    broken = {k: v for k, v in GOOD.items() if k not in ("multi_choice", "answer")}
    with pytest.raises(AnnotationError, match=r"missing key\(s\) 'multi_choice', 'answer'"):
        read_avqa_annotations(write(tmp_path, [broken]))
    music = {"video_id": "1", "question_id": 1, "type": "[]", "question_content": "x?", "templ_values": "[]"}
    with pytest.raises(AnnotationError, match="looks like a MUSIC-AVQA record"):
        read_avqa_annotations(write(tmp_path, [music]))


def test_file_level_errors(tmp_path):
    with pytest.raises(AnnotationError, match="annotation file not found"):
        read_avqa_annotations(tmp_path / "nope.json")
    with pytest.raises(AnnotationError, match="AVQA <split>_qa.json"):
        read_avqa_annotations(write(tmp_path, {"id": 1}))
    with pytest.raises(AnnotationError, match="holds no question records"):
        read_avqa_annotations(write(tmp_path, []))
    with pytest.raises(AnnotationError, match="is a str, expected a JSON object"):
        read_avqa_annotations(write(tmp_path, ["x"]))


def test_duplicated_ids_follow_the_policy(tmp_path):
    path = write(tmp_path, [GOOD, {**GOOD, "answer": 0}, {**GOOD, "id": 8}])
    with pytest.warns(DuplicateQuestionWarning, match="1 question ids occur more than once"):
        first = read_avqa_annotations(path)
    assert [(q.question_id, q.answer_index) for q in first] == [(7, 3), (8, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateQuestionWarning)
        assert [q.question_id for q in read_avqa_annotations(path, "drop")] == [8]
        assert [q.answer_index for q in read_avqa_annotations(path, "last")][0] == 0
    with pytest.raises(AnnotationError, match="occur more than once"):
        read_avqa_annotations(path, "error")


def test_load_split_names_the_missing_file_and_says_papers_report_val(tmp_path):
    root = write_avqa_fixture(tmp_path / "d")
    assert len(load_avqa_split(root, "train")) == 24
    with pytest.raises(AnnotationError) as info:
        load_avqa_split(root, "test")
    assert "test_qa.json" in str(info.value) and "holds the splits train, val" in str(info.value)
    assert "AVQA releases only train and val" in str(info.value)


def test_detect_format_and_read_any_annotation_file(tmp_path):
    avqa_root = write_avqa_fixture(tmp_path / "avqa")
    assert detect_format(avqa_root) == AVQA and detect_format(tmp_path / "empty") == MUSIC_AVQA
    music = tmp_path / "music"
    write_annotations([make_question(1, "00000001", "Is there a <Object> sound?", ["violin"], "yes")],
                      music / "json" / "avqa-test.json")
    assert detect_format(music) == MUSIC_AVQA
    assert resolve_format(DataConfig(root=str(avqa_root))) == AVQA
    assert resolve_format(DataConfig(root=str(avqa_root), format="music_avqa")) == MUSIC_AVQA
    assert get_format(DataConfig(root=str(avqa_root))).multiple_choice
    write_annotations([make_question(2, "00000001", "Is there a <Object> sound?", ["cello"], "no")],
                      avqa_root / "json" / "avqa-val.json")
    with pytest.raises(AnnotationError, match="set data.format=music_avqa or data.format=avqa"):
        detect_format(avqa_root)
    assert file_format(music / "json" / "avqa-test.json") == MUSIC_AVQA
    assert file_format(avqa_root / "json" / "train_qa.json") == AVQA
    assert read_annotation_file(music / "json" / "avqa-test.json")[0].answer == "yes"
    assert len(read_annotation_file(avqa_root / "json" / "train_qa.json")) == 24
    with pytest.raises(ConfigError):
        get_format("nope")


def test_avqa_scheme_cells_and_rows():
    scheme = avqa_scheme(["View", "Both", "View"])
    assert scheme.cells[:2] == (("Which", "Both"), ("Which", "View")) and len(scheme.cells) == 16
    assert scheme.row_labels == [*QUESTION_TYPES, "relation: Both", "relation: View", "Overall"]
    rows = {row.label: row for row in scheme.rows}
    assert rows["Why"].cells == (8, 9) and rows["relation: View"].cells == tuple(range(1, 16, 2))
    assert rows["relation: View"].json_key == "View" and scheme.label_texts[:3] == ["Which", "Both", "View"]
    assert sorted(scheme.label_texts) == sorted([*QUESTION_TYPES, "Both", "View"])
    assert scheme.cell_index(("When", "View")) == 13
    with pytest.raises(AnnotationError, match="not a AVQA question cell"):
        scheme.cell_index(("When", "Sound"))
    with pytest.raises(AnnotationError):
        avqa_scheme([])


def test_the_fixture_writes_every_key_of_the_real_format(tmp_path):
    rng = np.random.default_rng(0)
    assert set(record(3, 1, rng)) == set(GOOD)
    question = make_avqa_question(1, "v", 2, "What is it?", ["a", "b", "c", "d"], 1, "Where", "Both")
    assert question.answer == "b" and question.keywords == ()
