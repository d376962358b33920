"""AVQADataset on a tiny random dataset (hash text encoder): the batch contract, order, sharding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mcdlib.config import DataConfig
from mcdlib.data.dataset import (AVQADataset, KIND_KEYWORD, KIND_TYPE, ensure_packed, question_vocab_path,
                                 write_toy_dataset)
from mcdlib.data.music_avqa import load_split
from mcdlib.data.templates import CELLS
from mcdlib.data.text_cache import keyword_text
from mcdlib.data.vocab import AnswerVocab, QuestionVocab
from mcdlib.errors import AnnotationError, FeatureError

CONTRACT = {  # key: (dims after B, dtype)
    "audio": (("T", 8), torch.float32),
    "visual": (("T", 12), torch.float32),
    "visual_grid": (("T", 4, 12), torch.float32),
    "q_tokens": (("L", 384), torch.float32),
    "q_mask": (("L",), torch.bool),
    "q_ids": ((14,), torch.int64),
    "text_objects": (("K", 384), torch.float32),
    "text_objects_mask": (("K",), torch.bool),
    "text_objects_kind": (("K",), torch.int64),
    "answer": ((), torch.int64),
    "type_index": ((), torch.int64),
    "video_index": ((), torch.int64),
    "question_id": ((), torch.int64),
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A packed toy dataset with a channels-first grid feature [C=12, 2, 2] per second."""
    root = write_toy_dataset(tmp_path_factory.mktemp("toy"), n_videos=7,
                             split_sizes={"train": 20, "val": 9, "test": 5},
                             features={"vggish": (60, 8), "res18": (55, 12), "res18_14x14": (60, 12, 2, 2)})
    cfg = DataConfig(root=str(root), visual_grid_feature="res18_14x14", text_encoder="minilm")
    ensure_packed(cfg, progress=False)
    return cfg


@pytest.fixture(scope="module")
def train(toy):
    return AVQADataset(toy, "train", text_model="hash", progress=False)


def test_batch_follows_the_contract(train):
    spec = train.spec
    sizes = {"T": 10, "L": spec.text_len, "K": spec.max_objects}
    batch = train.batch([3, 0, 7, 7])
    assert set(batch) == set(CONTRACT)
    for key, (dims, dtype) in CONTRACT.items():
        expected = (4, *(sizes.get(d, d) for d in dims))
        assert tuple(batch[key].shape) == expected and batch[key].dtype == dtype, key
    assert spec.visual_grid == (4, 12) and spec.audio_dim == 8 and spec.visual_dim == 12
    assert spec.type_object_features.shape == (9, 2, 384) and spec.max_objects == 6
    assert spec.vocab_size == len(train.question_vocab) and spec.num_answers == 42


def test_batch_content_matches_the_records(train):
    idx = [0, 5, 11]
    batch = train.batch(idx)
    vocab = AnswerVocab()
    for row, i in enumerate(idx):
        q = train.questions[i]
        assert batch["question_id"][row] == q.question_id and batch["answer"][row] == vocab.index(q.answer)
        assert CELLS[batch["type_index"][row]] == q.cell
        assert batch["video_index"][row] == train.store.row(q.video_id)
        n_kw = len(q.keywords)
        kinds = batch["text_objects_kind"][row].tolist()
        assert kinds == [KIND_KEYWORD] * n_kw + [KIND_TYPE] * 2 + [0] * (6 - n_kw - 2)
        texts = [keyword_text(k) for k in q.keywords] + list(q.type_labels)
        np.testing.assert_allclose(batch["text_objects"][row, :n_kw + 2].numpy(),
                                   train.text_cache.object_vectors(texts))
        assert not batch["text_objects"][row, n_kw + 2:].any()
        assert batch["q_ids"][row].count_nonzero() == len(q.tokens)
        assert batch["q_mask"][row].sum() == len(train.text_cache.mask[train.text_cache.question_rows([q.text])[0]].nonzero()[0])
    cell = CELLS.index(("Visual", "Location"))
    np.testing.assert_allclose(train.spec.type_object_features[cell].numpy(),
                               train.text_cache.object_vectors(["Visual", "Location"]))


def test_padded_short_video_and_float16_values(train):
    q = train.questions[0]
    raw = np.load(train.data.root / "feats" / "res18" / f"{q.video_id}.npy")  # 55 of 60 seconds
    got = train.batch([0])["visual"][0].numpy()
    expected = raw[np.minimum(np.arange(0, 60, 6), 54)]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_val_shares_the_train_question_vocab(toy, train):
    path = question_vocab_path(toy)
    assert path.is_file()
    vocab = QuestionVocab.load(path)
    train_words = QuestionVocab.build(load_split(toy.root, "train")).words
    assert vocab.words[:len(train_words)] == train_words  # train order first, template words after
    assert "ukulele" in vocab and "rightest" in vocab
    val = AVQADataset(toy, "val", text_model="hash", progress=False)
    assert val.question_vocab == train.question_vocab and len(val) == 9


def test_vocab_text_encoder_omits_q_tokens(toy):
    ds = AVQADataset(replace(toy, text_encoder="vocab", visual_grid_feature="none"), "test",
                     text_model="hash", progress=False)
    batch = ds.batch(np.arange(len(ds)))
    assert "q_tokens" not in batch and "q_mask" not in batch and "visual_grid" not in batch
    assert batch["q_ids"].shape == (5, 14)


def test_iter_batches_order_is_a_pure_function(train):
    a = [b.tolist() for b in train.batch_indices(6, shuffle=True, seed=3, epoch=1)]
    b = [b.tolist() for b in train.batch_indices(6, shuffle=True, seed=3, epoch=1)]
    c = [b.tolist() for b in train.batch_indices(6, shuffle=True, seed=3, epoch=2)]
    assert a == b and a != c and sorted(sum(a, [])) == list(range(20)) and [len(x) for x in a] == [6, 6, 6, 2]
    first = next(train.iter_batches(6, shuffle=True, seed=3, epoch=1))
    assert first["question_id"].tolist() == [train.questions[i].question_id for i in a[0]]
    assert train.num_batches(6) == 4


@pytest.mark.parametrize("world_size", [1, 3, 4])
def test_ddp_shards_cover_every_index_with_equal_lengths(train, world_size):
    shards = [np.concatenate(train.batch_indices(4, seed=1, epoch=0, rank=r, world_size=world_size))
              for r in range(world_size)]
    assert len({len(s) for s in shards}) == 1  # equal length: no rank waits at an all-reduce
    seen = np.concatenate(shards)
    assert set(seen.tolist()) == set(range(20))
    assert len(seen) - 20 == (-20) % world_size  # only the wrap-around pad repeats
    assert len(train.batch_indices(4, seed=1, rank=0, world_size=world_size)) == train.num_batches(4, world_size)
    dropped = [np.concatenate(train.batch_indices(4, seed=1, rank=r, world_size=world_size, drop_last=True))
               for r in range(world_size)]
    flat = np.concatenate(dropped)
    assert len(set(flat.tolist())) == len(flat) and len({len(s) for s in dropped}) == 1


def test_missing_pack_tells_the_command(tmp_path):
    root = write_toy_dataset(tmp_path, n_videos=3, split_sizes={"train": 4})
    cfg = DataConfig(root=str(root))
    with pytest.raises(FeatureError, match=f"mcd data pack {root} --feature vggish --feature res18 "
                                           "--seconds 60 --segments 10"):
        AVQADataset(cfg, "train", text_model="hash", progress=False)
    assert set(ensure_packed(cfg, progress=False)) == {"vggish", "res18"}
    assert ensure_packed(cfg, progress=False) == {}
    assert len(AVQADataset(cfg, "train", text_model="hash", progress=False)) == 4


def test_empty_split_is_a_clear_error(toy):
    empty = Path(toy.root) / "json" / "avqa-empty.json"
    empty.write_text("[]")
    try:
        with pytest.raises(AnnotationError, match="avqa-empty.json.*no question"):
            AVQADataset(toy, "empty", text_model="hash", progress=False)
    finally:
        empty.unlink()


def test_batch_loads_only_the_features_a_model_reads(train):
    from mcdlib.config import ModelConfig
    from mcdlib.models import feature_inputs

    dataset = train
    full = dataset.batch([0, 1])
    assert {"audio", "visual"} <= set(full)
    qonly = dataset.batch([0, 1], features=feature_inputs(ModelConfig(name="qonly")))
    assert "audio" not in qonly and "visual" not in qonly and "q_ids" in qonly and "answer" in qonly
    audio_only = dataset.batch([0, 1], features=feature_inputs(ModelConfig(name="late", modalities="a")))
    assert "audio" in audio_only and "visual" not in audio_only
    assert torch.equal(audio_only["audio"], full["audio"])
    assert feature_inputs(ModelConfig(name="avst")) == {"audio", "visual", "visual_grid"}
    with pytest.raises(ValueError, match="unknown feature keys"):
        dataset.batch([0], features=["sound"])


def test_half_batches_keep_float16_features_and_equal_the_float32_ones(train):
    full, half = train.batch([1, 4]), train.batch([1, 4], half=True)
    for key in ("audio", "visual", "visual_grid", "q_tokens"):
        assert half[key].dtype == torch.float16 and torch.equal(half[key].float(), full[key]), key
    assert half["text_objects"].dtype == torch.float32 and torch.equal(half["answer"], full["answer"])


def test_a_grid_packed_channels_first_by_an_earlier_version_is_repacked(toy, tmp_path):
    import shutil

    from mcdlib.data.dataset import missing_features
    from mcdlib.data.features import resolve_data_config
    from mcdlib.data.store import read_index, write_index

    root = tmp_path / "copy"
    shutil.copytree(toy.root, root)
    cfg = replace(toy, root=str(root))
    index = read_index(root)
    index["features"]["res18_14x14"]["shape"] = [7, 10, 12, 2, 2]  # the old channels-first layout
    write_index(root, index)
    assert missing_features(resolve_data_config(cfg)) == ["res18_14x14"]
    ensure_packed(cfg, progress=False)
    assert read_index(root)["features"]["res18_14x14"]["shape"] == [7, 10, 4, 12]
