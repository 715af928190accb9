"""Conv → BatchNorm → activation, laid out like torchvision's ``Conv2dNormActivation``."""
from __future__ import annotations

from torch import nn


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


class ConvBNReLU(nn.Sequential):
    """``Conv2d(bias=False)`` → ``BatchNorm2d`` → activation (``ReLU`` unless told otherwise).

    It is an ``nn.Sequential`` so its parameters are named ``0.weight`` (conv) and
    ``1.weight``/``1.bias`` (BN), exactly torchvision's layout; torchvision checkpoints
    (MobileNetV2) therefore load without renaming. ``activation=None`` leaves conv + BN only.
    The default padding keeps the size for stride 1 ("same" for odd kernels and any dilation).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 1,
        stride: int = 1,
        *,
        padding: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        activation: type[nn.Module] | None = nn.ReLU,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ):
        kernel, dil = _pair(kernel_size), _pair(dilation)
        if padding is None:
            padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dil, strict=True))
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dil, groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels
