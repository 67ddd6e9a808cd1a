"""Xception (Chollet 2017) in plain PyTorch for one-channel spectrograms, ending in a
128-channel feature map and global average pooling: the Siamese branch phi of GrahAM.

Entry flow: two 3x3 convolutions (the second strided) then residual blocks of depthwise-
separable convolutions, each halving the resolution; middle flow: ``middle_blocks`` residual
blocks of three separable convolutions at constant width; exit flow: one strided residual
block, two separable convolutions, and a 1x1 projection to ``out_channels`` (the paper's
6x6x128 map for a 192x192 input, total stride 32). Any input height and width >= 32 works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError

__all__ = ["XceptionConfig", "PRESETS", "SeparableConv2d", "Xception"]


@dataclass(frozen=True)
class XceptionConfig:
    """Widths and depth. ``paper``: Xception's own (32/64, 128/256/728, 8 x 728, 1024/1536) with
    a projection to 128; ``cpu``: a narrow, shallow variant that trains in minutes on 2 cores.

    ``freq_coord`` adds a second input channel holding each mel band's position in [-1, 1]
    (CoordConv; the frequency-aware CNNs of Koutini et al., 2019). Convolutions and global
    average pooling are blind to where in frequency a pattern lies, which is much of timbre;
    the extra channel lets the network know it at the cost of one input channel.

    ``input_norm``: ``centre`` subtracts each crop's mean [dB] and divides by a fixed 20 dB,
    so a gain changes nothing but the crop's dynamic range, a production cue (compression),
    survives; ``standardise`` (graham 0.1, kept to load its bundles) also divides by the
    crop's own standard deviation, which erases that cue (measured: README).
    """

    stem: tuple[int, int] = (32, 64)
    entry: tuple[int, ...] = (128, 256, 728)
    middle_blocks: int = 8
    exit: tuple[int, int] = (1024, 1536)
    out_channels: int = 128
    dropout: float = 0.0
    freq_coord: bool = False
    input_norm: str = "centre"

    def __post_init__(self) -> None:
        if len(self.stem) != 2 or len(self.exit) != 2 or not self.entry or self.middle_blocks < 0:
            raise ParameterError("stem and exit take two widths, entry at least one, middle_blocks >= 0")
        if min(self.stem + self.entry + self.exit + (self.out_channels,)) <= 0:
            raise ParameterError("every width must be > 0")
        if self.input_norm not in ("centre", "standardise"):
            raise ParameterError(f"input_norm must be centre or standardise, got {self.input_norm!r}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "XceptionConfig":
        d = {"input_norm": "standardise", **d}  # saved before input_norm existed: graham 0.1's
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


PRESETS: dict[str, XceptionConfig] = {
    "paper": XceptionConfig(),
    "cpu": XceptionConfig(stem=(8, 16), entry=(24, 48, 64), middle_blocks=2, exit=(96, 128), out_channels=128,
                          freq_coord=True),
}


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 convolution followed by a pointwise 1x1 convolution (no bias: BN follows)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class StridedPointwise(nn.Conv2d):
    """A 1x1 convolution with stride s (the residual shortcut). Narrow inputs (fewer than 16
    channels) take the 1x1 convolution of every s-th pixel instead, the same numbers and weights:
    oneDNN's strided 1x1 kernel corrupted memory in its channels-last backward pass there (torch
    2.11, 16-core Xeon, 4-12 channels: 'double free or corruption'). Wider layers, the presets'
    own, keep that kernel, which is 10 % faster per training step of the cpu preset."""

    NARROW = 16

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels >= self.NARROW:
            return super().forward(x)
        s = self.stride
        return F.conv2d(x[..., ::s[0], ::s[1]], self.weight)


def _sep_bn(cin: int, cout: int, relu_first: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReLU()] if relu_first else []
    return layers + [SeparableConv2d(cin, cout), nn.BatchNorm2d(cout)]


class _Block(nn.Module):
    """Residual block: ``reps`` separable convolutions, optional 3x3/2 max pool, and a 1x1
    (strided) shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, reps: int, *, stride: int, relu_first: bool = True,
                 grow_first: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        widths = [cin] + [cout] * reps if grow_first else [cin] * reps + [cout]
        for r in range(reps):
            layers += _sep_bn(widths[r], widths[r + 1], relu_first=relu_first or r > 0)
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride=stride, padding=1))
        self.body = nn.Sequential(*layers)
        self.skip = None
        if cin != cout or stride != 1:
            self.skip = nn.Sequential(StridedPointwise(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.skip is None else self.skip(x))


class Xception(nn.Module):
    """phi: spectrogram batch [shape=(B, 1, n_mels, frames)] -> feature map
    [shape=(B, out_channels, ~n_mels/32, ~frames/32)] (:meth:`features`) -> 128-d embedding
    by global average pooling (:meth:`forward`). Each input crop in dB is first centred (its
    mean removed, so a gain changes nothing) and scaled by a fixed 20 dB (``input_norm``)."""

    def __init__(self, config: XceptionConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or PRESETS["paper"]
        s0, s1 = c.stem
        self.stem = nn.Sequential(
            nn.Conv2d(2 if c.freq_coord else 1, s0, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(s0), nn.ReLU(),
            nn.Conv2d(s0, s1, 3, padding=1, bias=False), nn.BatchNorm2d(s1), nn.ReLU(),
        )
        entry, cin = [], s1
        for i, w in enumerate(c.entry):
            entry.append(_Block(cin, w, 2, stride=2, relu_first=i > 0))
            cin = w
        self.entry = nn.Sequential(*entry)
        self.middle = nn.Sequential(*[_Block(cin, cin, 3, stride=1) for _ in range(c.middle_blocks)])
        e0, e1 = c.exit
        self.exit = nn.Sequential(
            _Block(cin, e0, 2, stride=2, grow_first=False),
            *_sep_bn(e0, e1, relu_first=False), nn.ReLU(),
            nn.Conv2d(e1, c.out_channels, 1, bias=False), nn.BatchNorm2d(c.out_channels), nn.ReLU(),
        )
        self.dropout = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        # NHWC: oneDNN's convolutions run about 1.6x faster so on 2 CPU cores (a training step of
        # the cpu preset: 0.24 -> 0.15 s), and cuDNN's too. Weights load into it unchanged.
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    @property
    def embedding_dim(self) -> int:
        return self.config.out_channels

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """The crop centred and scaled as ``config.input_norm`` says."""
        centred = x - x.mean(dim=(-2, -1), keepdim=True)
        if self.config.input_norm == "centre":
            return centred / 20.0
        return centred / x.std(dim=(-2, -1), keepdim=True).clamp_min(1e-3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional map [shape=(B, out_channels, H/32, W/32)]."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1:
            raise ParameterError(f"expected (B, 1, n_mels, frames) or (B, n_mels, frames), got {tuple(x.shape)}")
        x = self.standardise(x)
        if self.config.freq_coord:
            coord = torch.linspace(-1.0, 1.0, x.shape[-2], device=x.device, dtype=x.dtype)
            x = torch.cat([x, coord.view(1, 1, -1, 1).expand(x.shape[0], 1, x.shape[-2], x.shape[-1])], dim=1)
        return self.exit(self.middle(self.entry(self.stem(x.contiguous(memory_format=torch.channels_last)))))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Embeddings from a feature map: global average pooling (and dropout while training)."""
        return self.dropout(features.mean(dim=(-2, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings [shape=(B, out_channels)]."""
        return self.pool(self.features(x))
