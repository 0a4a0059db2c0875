"""Every registered backbone: shapes on 48x48 grey and colour faces, parameter counts, one learning check."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training extra is not installed: pip install 'affectlens[train]'")
from torch import nn  # noqa: E402

from affectlens.models.registry import create_backbone, create_model, list_models  # noqa: E402

torch.set_num_threads(1)

MODELS = list_models()
TINY = [name for name in MODELS if name.startswith("test_")]
# parameters of the whole network (8 classes + VA head), 1 input channel; None: only the sane range is checked
EXPECTED_PARAMS: dict[str, float | None] = {
    "shufflenet_v2": 1.27e6,
    "mobilenet_v2": 2.25e6,
    "resnet18": 11.18e6,
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("channels", [1, 3])
def test_outputs_on_48x48(name: str, channels: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=8, in_channels=channels).eval()
    sizes: list[int] = []  # conv output sizes, except on already pooled maps (squeeze-and-excitation gates)
    hooks = [
        m.register_forward_hook(
            lambda _m, inp, out: sizes.append(min(out.shape[-2:])) if inp[0].shape[-1] > 1 else None
        )
        for m in model.backbone.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        out = model(torch.randn(2, channels, 48, 48))
    for hook in hooks:
        hook.remove()
    assert out["logits"].shape == (2, 8) and torch.isfinite(out["logits"]).all()
    va = out["valence_arousal"]
    assert va.shape == (2, 2) and (va.abs() <= 1).all()
    assert min(sizes) >= 2, f"{name} shrinks a 48x48 face to {min(sizes)} pixels"
    features = model.backbone(torch.randn(1, channels, 48, 48))
    assert features.shape == (1, model.backbone.num_features)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    count = n_params(create_model(name, num_classes=8))
    with capsys.disabled():
        print(f"\n  {name}: {count / 1e6:.3f} M parameters", end="")
    limit = (1e3, 2e5) if name.startswith("test_") else (2e4, 3e7)
    assert limit[0] < count < limit[1]
    expected = EXPECTED_PARAMS.get(name)
    if expected is not None:
        assert abs(count - expected) / expected < 0.05


@pytest.mark.parametrize(
    ("name", "kw", "features"),
    [
        ("shufflenet_v2", {"width": 0.5}, 1024),
        ("shufflenet_v2", {"width": 0.75, "stem_stride": 2}, 1024),
        ("mobilenet_v2", {"width": 0.5, "last_channels": 640}, 640),
        ("resnet18", {"width": 16}, 128),
    ],
)
def test_width_options(name: str, kw: dict[str, float], features: int) -> None:
    backbone = create_backbone(name, in_channels=1, **kw).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 1, 48, 48))
    assert out.shape == (1, features) == (1, backbone.num_features)
    assert n_params(backbone) < n_params(create_backbone(name))


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_learns_a_fixed_batch(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=8, dropout=0.0)
    x, y = torch.randn(16, 1, 48, 48), torch.arange(16) % 8
    va = torch.rand(16, 2) * 2 - 1
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn() -> torch.Tensor:
        out = model(x)
        return nn.functional.cross_entropy(out["logits"], y) + nn.functional.mse_loss(out["valence_arousal"], va)

    first = loss_fn()
    for _ in range(15):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
    assert loss_fn().item() < 0.7 * first.item()
