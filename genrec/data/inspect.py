"""Check a dataset before training on it: what genrec reads, and what the protocol will see.

    python -m genrec.data.inspect data=<name or path/to/data.yaml> [data.root=...] [data.text_template=...]

Loads the dataset exactly as a run would (same loader, same checks, so a bad file stops here
with the same message) and prints: users, items, interactions, sequence lengths, the
leave-one-out sizes (training prefixes, validation / test users, users too short to
evaluate), how often each text field is filled, the item text the template renders for a few
items (what the text encoder will read), and the dataset's fingerprint. Exit code 2 with a
message on bad input, as for train.py.
"""

from __future__ import annotations

import sys

import numpy as np

from genrec.data.dataset import RecDataset


def describe(dataset: RecDataset, template: str, max_history: int, examples: int = 3) -> str:
    from genrec.data.splits import leave_one_out
    from genrec.data.text import item_texts

    stats = dataset.statistics()
    lengths = np.array([len(s) for s in dataset.interactions.sequences])
    split = leave_one_out(dataset.interactions, max_history)
    counts = np.bincount(np.concatenate(dataset.interactions.sequences), minlength=dataset.n_items)
    lines = [
        f"dataset {dataset.name!r} (fingerprint {dataset.fingerprint()})",
        f"  users {stats['users']:,}   items {stats['items']:,}   interactions {stats['interactions']:,}   "
        f"density {stats['interactions'] / max(stats['users'] * stats['items'], 1):.4%}",
        f"  sequence length: min {lengths.min()}, median {int(np.median(lengths))}, mean {lengths.mean():.2f}, "
        f"max {lengths.max()}",
        f"  items never interacted with: {int((counts == 0).sum()):,}; items with fewer than 5 users: "
        f"{int((counts < 5).sum()):,}",
        f"  leave-one-out (max_history {max_history}): {len(split.prefix_examples()[0]):,} training prefixes, "
        f"{len(split.valid):,} validation / test users, {int((lengths < 3).sum()):,} users too short to evaluate",
        "  text fields (share of items with a value):",
    ]
    for name, values in dataset.catalog.fields.items():
        filled = sum(1 for v in values if v not in (None, "", [], ()))
        lines.append(f"    {name:<12} {filled / max(len(values), 1):7.1%}")
    texts = item_texts(dataset.catalog, template)
    sizes = np.array([len(t) for t in texts])
    lines.append(f"  item text ({template!r}): empty for {int((sizes == 0).sum()):,} items, "
                 f"mean {sizes.mean():.0f} characters")
    for item in np.linspace(0, dataset.n_items - 1, examples).round().astype(int):
        lines.append(f"    {dataset.catalog.external_ids[item]}: {texts[item][:110]!r}")
    if dataset.catalog.metadata.get("text_source"):
        lines.append(f"  text source: {dataset.catalog.metadata['text_source']}")
    return "\n".join(lines)


def main(args: list[str]) -> int:
    from genrec.cli import run_guarded

    def inspect(arguments: list[str]) -> None:
        from genrec.config import compose
        from genrec.data import load_dataset

        no_experiment = [] if any(a.startswith("experiment=") for a in arguments) else ["experiment="]
        cfg = compose([*no_experiment, *arguments])
        dataset = load_dataset(cfg.data)
        print(describe(dataset, cfg.data.text_template, cfg.data.max_history))

    return run_guarded(inspect, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
