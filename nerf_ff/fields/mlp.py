"""Plain ReLU MLP (the reference; the fast path wraps or compiles this same module)."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """in_dim → [width] * depth (ReLU) → out_dim, no output activation."""

    def __init__(self, in_dim: int, width: int, depth: int, out_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.ReLU(inplace=True)]
            dim = width
        layers.append(nn.Linear(dim, out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: Tensor) -> Tensor:  # [N, in_dim] → [N, out_dim]
        return self.net(x)
