"""k-means in torch (k-means++ or random-point seeding, Lloyd iterations), optionally size-balanced.

Used by residual k-means, hierarchical k-means and as a reference in tests. When
there are fewer distinct points than clusters, surplus centres duplicate points and
stay empty; callers see that as unused codes, never as an error.
"""

from __future__ import annotations

import torch


def squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return (x.pow(2).sum(1, keepdim=True) - 2 * x @ centers.T + centers.pow(2).sum(1)[None]).clamp(min=0)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    centers = [x[torch.randint(n, (1,), generator=generator)].squeeze(0)]
    closest = squared_distances(x, centers[0][None]).squeeze(1)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # every point already coincides with a centre
            index = torch.randint(n, (1,), generator=generator)
        else:
            index = torch.multinomial(closest / total, 1, generator=generator)
        centers.append(x[index].squeeze(0))
        closest = torch.minimum(closest, squared_distances(x, centers[-1][None]).squeeze(1))
    return torch.stack(centers)


def balanced_assign(distances: torch.Tensor, capacity: int) -> torch.Tensor:
    """Greedy assignment of points to their nearest centre with at most ``capacity`` points each,
    points with the largest gap between best and second-best centre placed first."""
    n, k = distances.shape
    order_by_point = torch.argsort(distances, dim=1)
    top2 = distances.gather(1, order_by_point[:, :2]) if k > 1 else distances
    urgency = (top2[:, 1] - top2[:, 0]) if k > 1 else torch.zeros(n)
    load = torch.zeros(k, dtype=torch.long)
    assign = torch.empty(n, dtype=torch.long)
    for point in torch.argsort(urgency, descending=True).tolist():
        for center in order_by_point[point].tolist():
            if load[center] < capacity:
                assign[point] = center
                load[center] += 1
                break
    return assign


INITS = ("kmeans++", "random")


def kmeans(
    x: torch.Tensor, k: int, iters: int = 50, seed: int = 0, balanced: bool = False, init: str = "kmeans++",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(centers [k, d], assignment [n])``. ``init``: ``kmeans++`` seeding or ``random`` (Forgy:
    k distinct random points). ``balanced`` caps each cluster at ``ceil(n / k)``: Lloyd
    iterations run unconstrained, then one capacity-constrained assignment is made."""
    if init not in INITS:
        raise ValueError(f"k-means init must be one of {INITS}, got {init!r}")
    x = x.float()
    generator = torch.Generator().manual_seed(seed)
    k_eff = min(k, x.shape[0])
    if init == "random":
        centers = x[torch.randperm(x.shape[0], generator=generator)[:k_eff]].clone()
    else:
        centers = kmeans_plus_plus(x, k_eff, generator)
    capacity = -(-x.shape[0] // k_eff)
    assign = torch.zeros(x.shape[0], dtype=torch.long)
    for _ in range(iters):
        distances = squared_distances(x, centers)
        new_assign = distances.argmin(1)
        if torch.equal(new_assign, assign) and _ > 0:
            break
        assign = new_assign
        sums = torch.zeros_like(centers).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k_eff).float()
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
    if balanced:
        assign = balanced_assign(squared_distances(x, centers), capacity)
    if k_eff < k:  # pad with copies so the codebook has k rows; the copies stay unused
        centers = torch.cat([centers, centers[:1].repeat(k - k_eff, 1)])
    return centers, assign
