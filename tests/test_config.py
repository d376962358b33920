import pytest

from mcdlib.config import (Config, ModelConfig, apply_overrides, describe, flat_keys, from_dict,
                           get_preset, load_config, load_yaml, preset_names, save_yaml, to_dict)
from mcdlib.errors import ConfigError


def test_presets_differ_and_roundtrip(tmp_path):
    assert set(preset_names()) == {"tiny", "classroom", "full"}
    tiny, classroom, full = (get_preset(n) for n in ("tiny", "classroom", "full"))
    assert tiny.model.d_model < classroom.model.d_model < full.model.d_model
    for cfg in (tiny, classroom, full):
        path = save_yaml(cfg, tmp_path / f"{cfg.preset}.yaml")
        assert load_yaml(Config, path) == cfg
        assert load_config(path) == cfg


def test_overrides_are_typed():
    cfg = apply_overrides(get_preset("tiny"), ["model.fusion=concat", "train.epochs=7",
                                               "train.lr=3e-4", "model.tau_learnable=true"])
    assert cfg.model.fusion == "concat" and cfg.train.epochs == 7
    assert cfg.train.lr == pytest.approx(3e-4) and cfg.model.tau_learnable is True
    assert get_preset("tiny").model.fusion == "none"  # the original is untouched


@pytest.mark.parametrize("override, message", [
    ("model.fusio=concat", "did you mean 'model.fusion'"),
    ("modle.fusion=concat", "did you mean 'model.fusion'"),
    ("model.fusion=concot", "did you mean 'concat'"),
    ("train.epochs=1.5", "expected an integer"),
    ("train.epochs", "key=value"),
    ("model.tau_learnable=maybe", "true/false"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(get_preset("tiny"), [override])


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  d_modle: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'model.d_modle'.*'d_model'"):
        load_config(path)
    path.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_partial_yaml_starts_from_its_preset(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("preset: tiny\nmodel:\n  fusion: add\n")
    cfg = load_config(path, overrides=["train.seed=3"])
    assert cfg.model.fusion == "add" and cfg.model.d_model == get_preset("tiny").model.d_model
    assert cfg.train.seed == 3


def test_every_spec_choice_is_a_switch():
    keys = set(flat_keys(Config))
    for switch in ["association", "association_layers", "contrastive", "tau", "tau_learnable",
                   "aggregator_levels", "aggregator_shared", "topk", "text_objects", "types_source",
                   "sa_loss", "sa_teachers", "teachers_detached", "fusion", "lambda_con",
                   "lambda_sa", "modalities"]:
        assert f"model.{switch}" in keys
    rows = {key: text for key, _default, text in describe()}
    assert "none | concat | add" in rows["model.fusion"]
    assert from_dict(ModelConfig, to_dict(ModelConfig())) == ModelConfig()
