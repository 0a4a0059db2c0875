"""Training augmentation and batch mixing: shapes kept, randomness seeded, each operation does what it says."""

import numpy as np
import pytest

from affectlens.train.augment import AugmentConfig, augment

OFF = AugmentConfig(flip=False, rotation_deg=0, scale=0, shift=0, brightness=0, contrast=0, clahe_p=0, erasing_p=0)


def gradient_face() -> np.ndarray:
    return np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))


def test_everything_off_is_the_identity():
    image = gradient_face()
    assert np.array_equal(augment(image, OFF, np.random.default_rng(0)), image)


def test_flip_mirrors_and_is_seeded():
    image = gradient_face()
    cfg = AugmentConfig(**{**OFF.__dict__, "flip": True})
    outs = [augment(image, cfg, np.random.default_rng(s)) for s in range(8)]
    assert any(np.array_equal(o, image[:, ::-1]) for o in outs) and any(np.array_equal(o, image) for o in outs)
    again = augment(image, cfg, np.random.default_rng(3))
    assert np.array_equal(again, outs[3])


@pytest.mark.parametrize("channels", [1, 3])
def test_full_augmentation_keeps_shape_and_dtype(channels):
    image = gradient_face() if channels == 1 else np.stack([gradient_face()] * 3, axis=-1)
    cfg = AugmentConfig(clahe_p=1.0, erasing_p=1.0)
    out = augment(image, cfg, np.random.default_rng(1))
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)


def test_random_erasing_changes_one_rectangle_only():
    image = np.full((48, 48), 128, np.uint8)
    cfg = AugmentConfig(**{**OFF.__dict__, "erasing_p": 1.0})
    changed = augment(image, cfg, np.random.default_rng(2)) != image
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    assert 0 < changed.mean() < 0.3
    assert rows.max() - rows.min() + 1 <= 48 and cols.max() - cols.min() + 1 <= 48


def test_mixup_and_cutmix_mix_targets_like_inputs():
    torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    from affectlens.train.mixing import mix_batch

    x = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for mixup, cutmix in ((0.4, 0.0), (0.0, 1.0)):
        mixed_x, (mixed_t,) = mix_batch(x, [target], np.random.default_rng(5), mixup, cutmix)
        assert mixed_x.shape == x.shape and mixed_t.shape == target.shape
        assert torch.allclose(mixed_t.sum(1), torch.ones(2))
        # the share of sample 1 in the mixed input equals its share in the mixed target
        assert torch.allclose(mixed_x.mean(dim=(1, 2, 3)), mixed_t[:, 1], atol=1e-6)
