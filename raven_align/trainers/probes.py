"""Small strong models as plain ``torch.nn.Module`` s that the classification trainer trains directly.

- :class:`LinearProbe`: a linear classifier over a column of frozen features (e.g. cached MiniLM
  embeddings), the paper's vision setting;
- :class:`SmallConvNet`: a two-block CNN over a ``pixel_values`` column, for small images such as digits.

Both return bare logits; the trainer accepts that as well as HF outputs with ``.logits``.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearProbe(nn.Module):
    """``logits = W x + b`` over the ``features`` column (its forward argument name)."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features.to(self.linear.weight.dtype))


class SmallConvNet(nn.Module):
    """conv(3×3)–ReLU–maxpool twice, then a linear head; input ``pixel_values`` ``(B, C, H, W)``."""

    def __init__(self, num_classes: int, in_channels: int = 1, image_size: int = 16, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * (image_size // 4) ** 2, num_classes)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(pixel_values.to(self.head.weight.dtype)))
