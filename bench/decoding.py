"""Constrained decoding: this decoder vs Hugging Face ``generate(prefix_allowed_tokens_fn=...)``.

    python bench/decoding.py [--tokenizer rqvae-beauty] [--users 256] [--repeats 3]

Part 1, side by side in one run: the same TIGER-sized T5 (4+4 layers, d_model 128,
6 heads x 64, FFN 1024; randomly initialised, seed 0), the same catalogue (Beauty's
RQ-VAE codes from ``tokenizers/<tokenizer>/``), the same inputs (the codes of the last
20 items of 256 test users), beam 20, top 10. Reports users/s of each (median of
``repeats``), the speed-up and the share of users whose top-10 lists are identical.

Part 2, scaling: synthetic catalogues of 10k, 100k and 1M items (4 levels x 256 codes),
trie build time, trie memory and the decoder's time per step (the model replaced by
precomputed log-probs, so only the decoder is timed).

Writes ``results/bench/decoding.json`` and ``results/bench/decoding.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.data import load_dataset  # noqa: E402
from genrec.data.splits import leave_one_out  # noqa: E402
from genrec.decoding import CodeTrie, constrained_beam_search  # noqa: E402
from genrec.decoding.t5_beams import T5BeamStepModel  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.tokenizers.item_codes import ItemCodes  # noqa: E402

SPECIAL = 3  # pad=0, eos=1, decoder start=2


def tiger_t5(vocab: int):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=vocab, d_model=128, d_kv=64, d_ff=1024, num_layers=4, num_decoder_layers=4,
                      num_heads=6, dropout_rate=0.1, pad_token_id=0, eos_token_id=1, decoder_start_token_id=2)
    return T5ForConditionalGeneration(config).eval()


def inputs_for(item_codes: ItemCodes, dataset, users: int, offsets: torch.Tensor):
    split = leave_one_out(dataset.interactions, 20)
    rows = []
    for history in split.test.histories[:users]:
        tokens = (item_codes.codes[torch.as_tensor(history)] + offsets).reshape(-1)
        rows.append(tokens)
    length = max(len(r) for r in rows)
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for i, r in enumerate(rows):
        input_ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def hf_generate(model, batch, allowed, beam, top_k, levels):
    def prefix_allowed_tokens_fn(batch_id, sent):
        return allowed.get(tuple(sent[1:].tolist()), [])

    out = model.generate(**batch, num_beams=beam, num_return_sequences=top_k, max_new_tokens=levels,
                         min_new_tokens=levels, do_sample=False, early_stopping=False, length_penalty=0.0,
                         prefix_allowed_tokens_fn=prefix_allowed_tokens_fn, output_scores=False,
                         return_dict_in_generate=True)
    return out.sequences[:, 1:].reshape(len(batch["input_ids"]), top_k, levels)


def compare_with_hf(args) -> dict:
    cfg = compose([f"data={args.tokenizer.rsplit('-', 1)[1]}"])
    dataset = load_dataset(cfg.data)
    item_codes = ItemCodes.load(Path("tokenizers") / args.tokenizer, dataset.fingerprint())
    sizes = item_codes.codebook_sizes
    offsets = SPECIAL + torch.tensor([sum(sizes[:i]) for i in range(len(sizes))])
    token_ids = [torch.arange(int(o), int(o) + s) for o, s in zip(offsets, sizes)]
    vocab = SPECIAL + sum(sizes)
    model = tiger_t5(vocab)
    batch = inputs_for(item_codes, dataset, args.users, offsets)
    trie = CodeTrie.from_item_codes(item_codes)
    token_codes = item_codes.codes + offsets
    allowed: dict[tuple, list[int]] = {}
    for row in token_codes.tolist():
        for level in range(len(row)):
            allowed.setdefault(tuple(row[:level]), set()).add(row[level])
    allowed = {k: sorted(v) for k, v in allowed.items()}
    code_to_item = {tuple(c): i for i, c in enumerate(item_codes.codes.tolist())}

    ours_times, hf_times = [], []
    ours_items = hf_items = None
    with torch.no_grad():
        for _ in range(args.repeats):  # interleaved, so both see the same machine state
            start = time.perf_counter()
            result = constrained_beam_search(T5BeamStepModel(model, token_ids), batch, trie, args.beam, args.top_k)
            ours_times.append(time.perf_counter() - start)
            ours_items = result.items
            start = time.perf_counter()
            sequences = hf_generate(model, batch, allowed, args.beam, args.top_k, item_codes.n_levels)
            hf_times.append(time.perf_counter() - start)
            hf_items = torch.tensor([[code_to_item.get(tuple((s - offsets).tolist()), -1) for s in user]
                                     for user in sequences])
    identical = (ours_items == hf_items).all(1).float().mean().item()
    differing = [{"user": u, "ours": ours_items[u].tolist(), "hf": hf_items[u].tolist()}
                 for u in range(len(ours_items)) if not torch.equal(ours_items[u], hf_items[u])][:5]
    ours_s, hf_s = statistics.median(ours_times), statistics.median(hf_times)
    return {
        "tokenizer": args.tokenizer, "n_items": item_codes.n_items, "levels": item_codes.n_levels,
        "users": args.users, "beam": args.beam, "top_k": args.top_k, "repeats": args.repeats,
        "ours_s": ours_times, "hf_s": hf_times,
        "ours_users_per_s": args.users / ours_s, "hf_users_per_s": args.users / hf_s,
        "speedup_vs_hf": hf_s / ours_s, "identical_topk": identical, "first_differences": differing,
        "hf_invalid_items": int((hf_items < 0).sum()),
    }


class FixedLogProbs:
    """A stand-in model: precomputed log-probs, so a step costs the decoder's work only."""

    def __init__(self, rows: int, sizes: list[int]):
        self.token_ids = [torch.arange(s) for s in sizes]
        self.table = torch.log_softmax(torch.randn(rows, max(sizes)), dim=-1)

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state):
        return state

    def start(self, batch):
        return batch

    def step(self, state, tokens):
        return self.table[:state], state

    def reorder(self, state, rows):
        return len(rows)


def scaling(args) -> list[dict]:
    """Trie build time, memory and decoder time per step for each catalogue size; the timed
    searches are interleaved across sizes (repeat r of every size, then r + 1), so all sizes
    see the same machine state."""
    generator = torch.Generator().manual_seed(0)
    sizes = [256, 256, 256, 256]
    tries, rows = [], []
    for n in args.scaling:
        codes = torch.unique(torch.randint(0, 256, (int(n * 1.02), 4), generator=generator), dim=0)
        codes = codes[torch.randperm(len(codes), generator=generator)[:n]]
        start = time.perf_counter()
        tries.append(CodeTrie(codes, sizes))
        rows.append({"n_items": len(codes), "layout": tries[-1].layout, "layouts": tries[-1].layouts,
                     "max_fanout": tries[-1].max_fanout, "build_s": round(time.perf_counter() - start, 3),
                     "memory_mb": round(tries[-1].memory_bytes() / 2**20, 2), "step_ms_all": []})
    model = FixedLogProbs(args.users * args.beam, sizes)
    for _ in range(args.scaling_repeats):
        for trie, row in zip(tries, rows):
            start = time.perf_counter()
            constrained_beam_search(model, args.users, trie, args.beam, args.top_k)
            row["step_ms_all"].append(1000 * (time.perf_counter() - start) / len(sizes))
    for row in rows:
        row["step_ms"] = round(statistics.median(row["step_ms_all"]), 2)
        print({k: v for k, v in row.items() if k != "step_ms_all"})
    return rows


def table(result: dict) -> str:
    hf = result["vs_hf"]
    lines = [
        f"Same T5 (TIGER size, random init), {hf['n_items']:,} items x {hf['levels']} levels, {hf['users']} users, "
        f"beam {hf['beam']}, top {hf['top_k']}; medians of {hf['repeats']} runs; {result['hardware']['cpu']} "
        f"({result['hardware']['torch_threads']} threads).",
        "",
        "| decoder | users/s | speed-up | identical top-10 |",
        "|---|---|---|---|",
        f"| genrec constrained beam search | {hf['ours_users_per_s']:.1f} | {hf['speedup_vs_hf']:.1f}x | "
        f"{hf['identical_topk']:.1%} |",
        f"| transformers generate + prefix_allowed_tokens_fn | {hf['hf_users_per_s']:.1f} | 1.0x | |",
        "",
        "| catalogue | layout | trie build | trie memory | decoder time per step |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['n_items']:,} | {r['layout']} | {r['build_s']:.2f} s | {r['memory_mb']:.1f} MB | "
              f"{r['step_ms']:.1f} ms |" for r in result["scaling"]]
    first, last = result["scaling"][0], result["scaling"][-1]
    lines += ["", f"Time per step grows {result['step_time_growth']:.2f}x from {first['n_items']:,} to "
              f"{last['n_items']:,} items (medians of {len(last['step_ms_all'])} interleaved runs)."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="rqvae-beauty")
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--beam", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--scaling-repeats", type=int, default=15)
    args = parser.parse_args()
    result = {"vs_hf": compare_with_hf(args), "scaling": scaling(args), "commit": git_commit(),
              "versions": versions(), "hardware": hardware()}
    result["speedup_vs_hf"] = result["vs_hf"]["speedup_vs_hf"]
    result["identical_topk"] = result["vs_hf"]["identical_topk"]
    result["step_time_growth"] = result["scaling"][-1]["step_ms"] / result["scaling"][0]["step_ms"]
    write_json_atomic(Path("results") / "bench" / "decoding.json", result)
    text = table(result)
    write_text_atomic(Path("results") / "bench" / "decoding.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
