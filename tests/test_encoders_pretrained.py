"""The encoders papers use (VGGish, torchvision's ResNet-18, CLIP) and their weight files.

No real weights are available offline: each architecture is built with random weights from its
config (small configs where the architecture allows), saved to a file or folder in tmp, and
loaded back through the encoder's real loading code. The tests check shapes, the front ends
against independent computations, the weight-file checks and the messages of a missing file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mcdlib.encoders.weights import WeightsSpec, locate_weights, verify_weights
from mcdlib.errors import ConfigError

SR = 16000


# --------------------------------------------------------------------------- weight files


SPEC = WeightsSpec("Test model", "model-abcdef12.pth", "https://example.org/model-abcdef12.pth",
                   option="--test-weights")


def test_weight_files_are_checked_by_sha256(tmp_path):
    import hashlib

    data = b"weights"
    digest = hashlib.sha256(data).hexdigest()
    plain = tmp_path / "model.pth"
    plain.write_bytes(data)
    assert verify_weights(plain, SPEC).how.startswith("unverified") and verify_weights(plain, SPEC).sha256 == digest
    assert verify_weights(plain, SPEC, digest).how == "full SHA-256"
    with pytest.raises(ConfigError, match="does not match the expected"):
        verify_weights(plain, SPEC, "0" * 64)
    with pytest.raises(ConfigError, match="not a hex digest"):
        verify_weights(plain, SPEC, "not-a-hash")
    named = tmp_path / f"model-{digest[:8]}.pth"  # torch.hub's convention: the name carries the hash prefix
    named.write_bytes(data)
    assert verify_weights(named, SPEC).how == "SHA-256 prefix in the file name"
    wrong = tmp_path / "model-abcdef12.pth"
    wrong.write_bytes(data)
    with pytest.raises(ConfigError, match="its name says its SHA-256 starts with abcdef12"):
        verify_weights(wrong, SPEC)


def test_missing_weight_file_says_where_to_get_and_put_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        locate_weights(SPEC, search=[tmp_path / "cache" / SPEC.file_name])
    message = str(info.value)
    assert "https://example.org/model-abcdef12.pth" in message and str(tmp_path / "cache") in message
    assert "--test-weights" in message and "downloads nothing" in message
    with pytest.raises(ConfigError, match="looked at: .*elsewhere.pth"):
        locate_weights(SPEC, tmp_path / "elsewhere.pth")


# --------------------------------------------------------------------------- VGGish


def test_vggish_network_has_torchvggish_names_and_shapes():
    from mcdlib.encoders.vggish import describe_vggish, vggish_state_shapes

    shapes = vggish_state_shapes()
    assert shapes["features.0.weight"] == (64, 1, 3, 3) and shapes["features.3.weight"] == (128, 64, 3, 3)
    assert shapes["features.6.weight"] == (256, 128, 3, 3) and shapes["features.8.weight"] == (256, 256, 3, 3)
    assert shapes["features.11.weight"] == (512, 256, 3, 3) and shapes["features.13.weight"] == (512, 512, 3, 3)
    assert shapes["embeddings.0.weight"] == (4096, 512 * 6 * 4) and shapes["embeddings.2.weight"] == (4096, 4096)
    assert shapes["embeddings.4.weight"] == (128, 4096) and len(shapes) == 18
    assert describe_vggish()["parameters"] == 72_141_184  # 289 MB as float32


def numpy_vggish_examples(wave: np.ndarray, seconds: int) -> np.ndarray:
    """VGGish's front end written out plainly (loops, numpy, float64), for comparison."""
    bins = np.linspace(0, SR / 2, 257)
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    weights = np.zeros((257, 64))
    for band in range(64):
        for k in range(1, 257):
            m = mel(bins[k])
            up = (m - edges[band]) / (edges[band + 1] - edges[band])
            down = (edges[band + 2] - m) / (edges[band + 2] - edges[band + 1])
            weights[k, band] = max(0.0, min(up, down))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    out = np.zeros((seconds, 96, 64))
    for s in range(seconds):
        chunk = wave[s * SR:(s + 1) * SR].astype(np.float64)
        for f in range(96):
            spectrum = np.abs(np.fft.rfft(chunk[f * 160:f * 160 + 400] * window, 512))
            out[s, f] = np.log(spectrum @ weights + 0.01)
    return out


def test_vggish_front_end_matches_a_plain_computation():
    from mcdlib.encoders.vggish import vggish_examples

    wave = np.random.default_rng(0).uniform(-0.5, 0.5, 2 * SR).astype(np.float32)
    ours = vggish_examples(torch.from_numpy(wave)[None].double(), 2)[0].numpy()
    assert ours.shape == (2, 96, 64)
    np.testing.assert_allclose(ours, numpy_vggish_examples(wave, 2), rtol=1e-6, atol=1e-6)


def test_vggish_front_end_puts_a_tone_in_its_mel_band():
    from mcdlib.encoders.vggish import F_MAX, F_MIN, hertz_to_mel, vggish_examples

    t = np.arange(SR) / SR
    tone = torch.from_numpy(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))[None]
    bands = vggish_examples(tone, 1)[0].mean(0)  # [64]
    centres = np.linspace(hertz_to_mel(F_MIN), hertz_to_mel(F_MAX), 66)[1:-1]
    assert int(bands.argmax()) == int(np.abs(centres - hertz_to_mel(1000.0)).argmin())


@pytest.fixture(scope="module")
def tiny_vggish(tmp_path_factory):
    """A small-width VGGish with random weights, saved as a state dict file."""
    from mcdlib.encoders.vggish import VGGishConfig, VGGishNetwork

    config = VGGishConfig(widths=(4, 4, 8, 8, 8, 8), hidden=16)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vggish") / "vggish-tiny.pth"
    torch.save(VGGishNetwork(config).state_dict(), path)
    return path, config


def test_vggish_encoder_from_a_weight_file(tiny_vggish):
    from mcdlib.encoders.audio import get_audio_encoder

    path, config = tiny_vggish
    encoder = get_audio_encoder("vggish", SR, weights=str(path), config=config)
    waves = np.random.default_rng(1).standard_normal((2, 2 * SR + 300)).astype(np.float32) * 0.1
    feats = encoder.encode(waves)
    assert feats.shape == (2, 2, 128) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert (feats >= 0).all()  # the embedding passes a ReLU, as the released features
    np.testing.assert_allclose(encoder.encode(waves[:1]), feats[:1], rtol=1e-5, atol=1e-6)
    assert encoder.version.startswith("vggish-2:vggish-tiny.pth:") and encoder.weights.how.startswith("unverified")
    at_44k = get_audio_encoder("vggish", 44100, weights=str(path), config=config)
    assert at_44k.encode(np.zeros((1, 44100 * 2), np.float32)).shape == (1, 2, 128)


def test_vggish_weight_errors_say_where_to_get_the_file(tmp_path, tiny_vggish):
    from mcdlib.encoders.audio import get_audio_encoder
    from mcdlib.encoders.vggish import VGGISH_WEIGHTS

    with pytest.raises(ConfigError, match="vggish-10086976.pth") as info:
        get_audio_encoder("vggish", SR)
    assert VGGISH_WEIGHTS.source in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        get_audio_encoder("vggish", SR, weights=str(tmp_path / "vggish.pth"))
    published_name = tmp_path / VGGISH_WEIGHTS.file_name  # the published name: its full hash is checked
    published_name.write_bytes(tiny_vggish[0].read_bytes())
    with pytest.raises(ConfigError, match="does not match the expected 10086976245803799d"):
        get_audio_encoder("vggish", SR, weights=str(published_name))
    (tmp_path / "broken.pth").write_bytes(b"not a state dict")
    with pytest.raises(ConfigError, match="cannot load VGGish weights"):
        get_audio_encoder("vggish", SR, weights=str(tmp_path / "broken.pth"))
    with pytest.raises(ConfigError, match="takes no weights option"):
        get_audio_encoder("logmel", SR, weights="x.pth")


# --------------------------------------------------------------------------- ResNet-18


def frames(n: int = 2, size: int = 224, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_resnet18_gives_res18_vectors_and_14x14_maps_as_the_reference(resnet18_random_weights):
    import torchvision

    from mcdlib.encoders.resnet import GRID_MEAN, GRID_STD
    from mcdlib.encoders.visual import get_visual_encoder

    encoder = get_visual_encoder("resnet18", weights=str(resnet18_random_weights), batch_size=1)
    images = frames()
    frame, grid = encoder.encode(images)
    assert frame.shape == (2, 512) and grid.shape == (2, 512, 14, 14) and encoder.grid_shape == (512, 14, 14)
    assert encoder.feature_names == ("res18", "res18_14x14")

    reference = torchvision.models.resnet18(weights=None)
    reference.load_state_dict(torch.load(resnet18_random_weights, weights_only=True))
    reference.fc = torch.nn.Identity()
    reference.eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():  # the frame pass: resize 256, centre crop 224, ImageNet normalisation
        crop = torch.nn.functional.interpolate(x, size=(256, 256), mode="bilinear", antialias=True)[..., 16:240, 16:240]
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        np.testing.assert_allclose(frame, reference((crop - mean) / std).numpy(), rtol=1e-4, atol=1e-4)
        # the grid pass: layer4 at stride 1 (dilating nothing) keeps 14x14; its mean differs from the frame vector
        y = (x - torch.tensor(GRID_MEAN).view(1, 3, 1, 1)) / torch.tensor(GRID_STD).view(1, 3, 1, 1)
        trunk = torch.nn.Sequential(reference.conv1, reference.bn1, reference.relu, reference.maxpool,
                                    reference.layer1, reference.layer2, reference.layer3)
        standard = reference.layer4(trunk(y))
    assert standard.shape[-2:] == (7, 7)
    assert not np.allclose(grid.mean(axis=(2, 3)), frame, atol=1e-3)


def test_resnet18_weights_come_from_a_file_or_torchvisions_cache(tmp_path, monkeypatch, resnet18_random_weights):
    from mcdlib.encoders.visual import get_visual_encoder

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(ConfigError) as info:
        get_visual_encoder("resnet18")
    message = str(info.value)
    assert str(cache / "resnet18-f37072fd.pth") in message and "download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "--visual-weights" in message
    cache.mkdir(parents=True)
    (cache / "resnet18-f37072fd.pth").write_bytes(resnet18_random_weights.read_bytes())  # found, then its hash checked
    with pytest.raises(ConfigError, match="its name says its SHA-256 starts with f37072fd"):
        get_visual_encoder("resnet18")
    with pytest.raises(ConfigError, match="takes no weights option"):
        get_visual_encoder("efficientnet_lite0", weights=str(resnet18_random_weights))


# --------------------------------------------------------------------------- CLIP


def test_clip_image_features_are_the_cls_embedding_and_the_patch_tokens(tiny_clip_folder):
    from transformers import CLIPModel

    from mcdlib.encoders.visual import get_visual_encoder

    encoder = get_visual_encoder("clip_vit_b32", source=str(tiny_clip_folder), batch_size=3)
    images = frames(3, size=224)
    frame, patches = encoder.encode(images)
    assert frame.shape == (3, 32) and patches.shape == (3, 16, 24) and encoder.grid_shape == (16, 24)
    assert encoder.feature_names == ("clip_vit_b32", "clip_vit_b32_patches") and encoder.input_size == 64
    model = CLIPModel.from_pretrained(tiny_clip_folder).eval()
    with torch.no_grad():
        pixels = encoder.preprocess(images)
        expected = model.get_image_features(pixel_values=pixels)
        expected = getattr(expected, "pooler_output", expected)
        hidden = model.vision_model(pixel_values=pixels).last_hidden_state[:, 1:]
    np.testing.assert_allclose(frame, expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(patches, hidden.numpy(), rtol=1e-4, atol=1e-5)
    assert pixels.shape == (3, 3, 64, 64)


def test_clip_text_features_for_questions_and_text_objects(tiny_clip_folder):
    from transformers import CLIPModel

    from mcdlib.encoders.text import get_text_encoder

    encoder = get_text_encoder("clip_vit_b32", str(tiny_clip_folder))
    assert encoder is get_text_encoder("clip_vit_b32", str(tiny_clip_folder))  # loaded once per process
    questions = ["is the violin louder than the cello?", "where is the piano?"]
    counts = encoder.token_counts(questions)
    feats, mask = encoder.encode_tokens(questions, max_len=int(counts.max()))
    assert feats.shape == (2, counts.max(), 32) and mask.sum(1).tolist() == counts.tolist()
    pooled = encoder.encode_pooled(["violin", "acoustic guitar"])
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)
    model = CLIPModel.from_pretrained(tiny_clip_folder).eval()
    with torch.no_grad():
        tokens = encoder.tokenizer(["violin"], return_tensors="pt")
        expected = model.get_text_features(**tokens)
        expected = getattr(expected, "pooler_output", expected)
    np.testing.assert_allclose(pooled[0], torch.nn.functional.normalize(expected, dim=-1)[0].numpy(), atol=1e-5)
    assert encoder.fingerprint.startswith("clip_vit_b32:")


def test_clip_needs_a_folder_or_a_reachable_hub(tmp_path, monkeypatch):
    from mcdlib.encoders.clip import load_clip_part
    from mcdlib.encoders.visual import get_visual_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    load_clip_part.cache_clear()
    with pytest.raises(ConfigError, match="not in the Hugging Face cache.*save_pretrained"):
        get_visual_encoder("clip_vit_l14")
    with pytest.raises(ConfigError, match="folder .*missing-clip not found"):
        get_visual_encoder("clip_vit_b32", source=str(tmp_path / "missing-clip"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        get_visual_encoder("clip_vit_b32", source=str(tmp_path / "empty"))


def test_clip_text_features_feed_the_dataset_through_the_config(tmp_path, tiny_clip_folder):
    from mcdlib.config import DataConfig
    from mcdlib.data.dataset import AVQADataset, ensure_packed, write_toy_dataset

    root = write_toy_dataset(tmp_path / "toy", n_videos=3, split_sizes={"train": 6, "val": 3})
    cfg = DataConfig(root=str(root), text_model="clip_vit_b32", text_model_source=str(tiny_clip_folder))
    ensure_packed(cfg, progress=False)
    batch = AVQADataset(cfg, "train", progress=False).batch([0, 1])
    assert batch["q_tokens"].shape[-1] == 32 and batch["text_objects"].shape[-1] == 32
    assert (root / "cache" / "text" / "clip_vit_b32").is_dir()
    with pytest.raises(ConfigError, match="takes no source"):
        from mcdlib.encoders.text import get_text_encoder

        get_text_encoder("hash", str(tiny_clip_folder))
