"""Image tensors and corruptions in plain torch ops (PyPI's torchvision does not import beside this torch).

Images are float tensors ``(N, C, H, W)`` in ``[0, 1]``. A corruption spec is a mapping applied in a fixed
order (rotate, blur, contrast, noise, invert, occlude), e.g. ``{"contrast": 0.3}`` or
``{"noise": 0.4, "blur": 1.0}``; random corruptions draw from a seeded generator so a split always gets the
same corrupted pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

CORRUPTIONS = ("rotate", "blur", "contrast", "noise", "invert", "occlude")


def to_tensor(images: Sequence[Any], size: int, channels: int = 1) -> torch.Tensor:
    """PIL images or arrays ``(H, W)``/``(H, W, C)``/``(C, H, W)`` of any scale → ``(N, C, size, size)`` in [0, 1]."""
    out = []
    for img in images:
        if hasattr(img, "convert"):  # PIL
            img = img.convert("L" if channels == 1 else "RGB")
        a = torch.as_tensor(np.asarray(img, dtype=np.float32))
        if a.ndim == 2:
            a = a[None]
        elif a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3):
            a = a.permute(2, 0, 1)[:3]
        if a.shape[0] != channels:
            a = a.mean(0, keepdim=True) if channels == 1 else a[:1].expand(channels, -1, -1)
        hi = float(a.max())
        a = a / (255.0 if hi > 16.0 else 16.0 if hi > 1.0 else 1.0)  # 8-bit, UCI's 0..16, or already [0, 1]
        out.append(a)
    batch = []
    for a in out:  # area averaging when shrinking, bilinear when growing
        mode = "area" if a.shape[-1] >= size else "bilinear"
        kw = {} if mode == "area" else {"align_corners": False}
        batch.append(F.interpolate(a[None], size=(size, size), mode=mode, **kw)[0])
    return torch.stack(batch).clamp(0, 1)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``sigma`` pixels (reflect padding)."""
    k = _gaussian_kernel(sigma).to(x)
    c, r = x.shape[1], len(k) // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every image by ``degrees`` about its centre (bilinear, zeros outside)."""
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def corrupt(x: torch.Tensor, spec: Mapping[str, float] | None, seed: int = 0) -> torch.Tensor:
    """Apply the corruptions in ``spec`` (see the module docstring); ``None`` or ``{}`` returns ``x``."""
    if not spec:
        return x
    unknown = set(spec) - set(CORRUPTIONS)
    if unknown:
        raise ValueError(f"unknown corruption(s) {sorted(unknown)}; choose from {CORRUPTIONS}")
    g = torch.Generator().manual_seed(seed)
    if spec.get("rotate"):
        x = rotate(x, float(spec["rotate"]))
    if spec.get("blur"):
        x = blur(x, float(spec["blur"]))
    if "contrast" in spec:  # shrink toward mid-grey: low contrast = small logits for a linear model
        c = float(spec["contrast"])
        x = 0.5 + c * (x - 0.5)
    if spec.get("noise"):
        x = x + float(spec["noise"]) * torch.randn(x.shape, generator=g)
    if spec.get("invert"):
        x = 1.0 - x
    if spec.get("occlude"):  # a square patch of side `occlude` × image size at a random place per image
        s = max(1, round(float(spec["occlude"]) * x.shape[-1]))
        pos = torch.randint(0, x.shape[-1] - s + 1, (len(x), 2), generator=g)
        for i, (r, c) in enumerate(pos.tolist()):
            x[i, :, r : r + s, c : c + s] = 0.0
    return x.clamp(0, 1)
