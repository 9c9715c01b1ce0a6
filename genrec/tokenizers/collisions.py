"""Making every item's code unique.

* ``extra_level`` (TIGER): append one level numbering the items inside each group
  that shares a code: 0, 1, 2, ... Its codebook size is the largest group.
* ``sinkhorn`` (LC-Rec's uniform semantic mapping): re-assign the *last* level of
  the colliding items only, by Sinkhorn-Knopp optimal transport between those items
  and the last codebook with uniform marginals (entropy ``epsilon``, distances
  centred and scaled to [-1, 1] as LC-Rec does), for up to ``rounds`` rounds. No level
  is added. Deviation, named: when rounds end with collisions left, an exact pass
  (``exact_fallback``) moves each remaining duplicate to the nearest last-level code
  unused inside its prefix group; the count is reported. Without it, or when a prefix
  group has more items than codes, the fit fails loudly.
"""

from __future__ import annotations

import math

import torch

from genrec.errors import GenrecError

METHODS = ("extra_level", "sinkhorn", "none")


class CollisionError(GenrecError):
    """Codes could not be made unique."""


def colliding_mask(codes: torch.Tensor) -> torch.Tensor:
    """True for every item whose full code is shared with another item."""
    _, inverse, counts = torch.unique(codes, dim=0, return_inverse=True, return_counts=True)
    return counts[inverse] > 1


def collision_rate(codes: torch.Tensor) -> float:
    return float(colliding_mask(codes).float().mean()) if len(codes) else 0.0


def add_extra_level(codes: torch.Tensor) -> tuple[torch.Tensor, int]:
    """TIGER's extra level: the rank of each item inside its code group (file order)."""
    _, inverse = torch.unique(codes, dim=0, return_inverse=True)
    order = torch.argsort(inverse, stable=True)
    sorted_groups = inverse[order]
    starts = torch.ones_like(sorted_groups, dtype=torch.bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    positions = torch.arange(len(codes))
    group_start = torch.cummax(torch.where(starts, positions, torch.zeros_like(positions)), dim=0).values
    rank = torch.empty_like(inverse)
    rank[order] = positions - group_start
    return torch.cat([codes, rank[:, None]], dim=1), int(rank.max()) + 1


def sinkhorn(distances: torch.Tensor, epsilon: float, iterations: int = 200) -> torch.Tensor:
    """Transport plan (log domain) between rows and columns with uniform marginals."""
    centred = distances - (distances.max() + distances.min()) / 2
    centred = centred / (centred.abs().max() + 1e-5)
    log_q = -centred.double() / epsilon
    n, k = log_q.shape
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(k)
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(n)
    return log_q


def _exact_pass(codes: torch.Tensor, distances_for, size: int) -> int:
    """Move each remaining duplicate to its nearest unused last code inside its prefix group."""
    moved = 0
    prefixes: dict[tuple, set[int]] = {}
    for row in codes.tolist():
        prefixes.setdefault(tuple(row[:-1]), set()).add(row[-1])
    seen: set[tuple] = set()
    for item in range(len(codes)):
        row = tuple(codes[item].tolist())
        if row not in seen:
            seen.add(row)
            continue
        used = prefixes[row[:-1]]
        if len(used) >= size:
            raise CollisionError(
                f"prefix {row[:-1]} holds more items than the last codebook has codes ({size}); "
                "use tokenizer.collisions=extra_level or a larger codebook"
            )
        for code in torch.argsort(distances_for(item)).tolist():
            if code not in used:
                codes[item, -1] = code
                used.add(code)
                seen.add(tuple(codes[item].tolist()))
                moved += 1
                break
    return moved


def resolve_with_sinkhorn(
    codes: torch.Tensor,
    last_inputs: torch.Tensor,
    last_codebook: torch.Tensor,
    epsilon: float = 0.003,
    rounds: int = 20,
    iterations: int = 200,
    exact_fallback: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Re-assign the last level of colliding items; returns new codes and what happened."""
    codes = codes.clone()
    distances = torch.cdist(last_inputs.float(), last_codebook.float()).pow(2)
    history = []
    for _ in range(rounds):
        mask = colliding_mask(codes)
        history.append(int(mask.sum()))
        if not mask.any():
            break
        plan = sinkhorn(distances[mask], epsilon, iterations)
        codes[mask, -1] = plan.argmax(1)
    remaining = int(colliding_mask(codes).sum())
    moved = 0
    if remaining:
        if not exact_fallback:
            raise CollisionError(f"{remaining} items still collide after {rounds} Sinkhorn rounds")
        moved = _exact_pass(codes, lambda item: distances[item], last_codebook.shape[0])
    return codes, {"colliding_per_round": history, "moved_by_exact_pass": moved}
