"""PRORec's modality adaptation layer: E_T = AdaLN(W·E_S + b).

Maps a semantic (text) vector ``E_S`` into the collaborative space. The paper names
adaptive layer normalisation without giving its conditioning; our choice (named in
docs/prorec.md): the scale and shift of the layer norm are predicted from the mapped
vector itself, ``AdaLN(h) = LN(h) * (1 + gamma(h)) + beta(h)``, with ``gamma`` and
``beta`` one linear layer initialised to zero, so training starts from a plain
(parameter-free) layer norm of ``W·E_S + b``.
"""

from __future__ import annotations

import torch
from torch import nn


class AdaLNAdapter(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.project = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim, elementwise_affine=False)
        self.modulation = nn.Linear(out_dim, 2 * out_dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, semantic: torch.Tensor) -> torch.Tensor:
        h = self.project(semantic)
        scale, shift = self.modulation(h).chunk(2, dim=-1)
        return self.norm(h) * (1 + scale) + shift
