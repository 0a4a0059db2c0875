"""The one preprocessing function and the model cfg that travels with the weights."""

import numpy as np
import pytest

from affectlens.models.config import ModelConfig
from affectlens.preprocess import preprocess, preprocess_batch


def test_gray_crop_of_any_size_becomes_normalised_chw():
    cfg = ModelConfig(input_size=48, channels=1, mean=(0.5,), std=(0.25,))
    crop = np.full((120, 100, 3), 255, np.uint8)
    x = preprocess(crop, cfg)
    assert x.shape == (1, 48, 48) and x.dtype == np.float32
    assert np.allclose(x, (1.0 - 0.5) / 0.25)


def test_colour_model_gets_rgb_channels_first():
    cfg = ModelConfig(input_size=16, channels=3, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    crop = np.zeros((16, 16, 3), np.uint8)
    crop[..., 0] = 255  # blue in BGR
    x = preprocess(crop, cfg)
    assert x.shape == (3, 16, 16)
    assert np.allclose(x[2], 1.0) and np.allclose(x[0], 0.0)  # blue ends up last in RGB


def test_batch_matches_single_and_empty_batch_has_shape():
    cfg = ModelConfig()
    crops = [np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8) for i in range(3)]
    batch = preprocess_batch(crops, cfg)
    assert batch.shape == (3, 1, 48, 48)
    assert np.allclose(batch[1], preprocess(crops[1], cfg))
    assert preprocess_batch([], cfg).shape == (0, 1, 48, 48)


def test_bad_crops_are_rejected_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        preprocess(np.zeros((4, 4, 2), np.uint8), ModelConfig())
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((4, 4), np.float32), ModelConfig())


def test_config_round_trips_through_json_and_rejects_unknown_fields():
    cfg = ModelConfig(labels=("a", "b"), extra_heads={"posture": ("upright", "hunched")}, info={"k": 1})
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_json('{"labels": ["a"], "colour_space": "hsv"}')
    with pytest.raises(ValueError, match="mean/std"):
        ModelConfig(channels=3)
