"""Training examples of the configured tasks, rendered and tokenised a batch at a time.

Example ``i`` of epoch ``e`` uses a template drawn from the templates that fit its fields
with a generator seeded by ``(seed, e, i)``: a fresh paraphrase each epoch, as LC-Rec draws
one per access, yet a resumed run sees exactly the texts an uninterrupted run would.

The prompt and the response are tokenised separately and concatenated (the prompt with the
tokenizer's special tokens, the response without, then EOS), so the prompt a model ranks
after is token for token the one it trained on. ``labels`` is ``-1`` on the prompt and on
padding: the loss is on response tokens only (LC-Rec's ``only_train_response``). Rows are
left-padded (``-1``), so every response ends at the last column and the model computes
output logits only over the last columns that hold responses. ``next_item`` is the target item
of a next-item (seqrec) example and -1 for other tasks. A prompt longer than
``max_length`` minus its response keeps its last tokens.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch.utils.data import Dataset

from genrec.llm.tasks import TASKS, PromptSet, TaskContext

IGNORE = -1
_CODE = re.compile(r"<[a-z]\d*_\d+>")


def encode_prompts(tokenizer, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Left-padded prompts (``input_ids``, ``attention_mask``), as the ranking decoder reads them."""
    rows = tokenizer(texts, add_special_tokens=True)["input_ids"]
    if max_length:
        rows = [ids[-max_length:] for ids in rows]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        mask[row, width - len(ids):] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


class InstructionDataset(Dataset):
    """Every configured task's examples; ``task_repeats`` repeats a task's examples (LC-Rec's
    ``prompt_sample_num``), ``task_caps`` keeps a seeded sample of at most so many
    (LC-Rec's ``train_data_sample_num``, e.g. 100,000 fusionseqrec examples on Games)."""

    def __init__(self, ctx: TaskContext, prompts: PromptSet, tasks: list[str], tokenizer, seed: int = 0,
                 repeats: dict[str, int] | None = None, caps: dict[str, int] | None = None, max_length: int = 1024):
        self.prompts, self.tokenizer, self.seed, self.max_length = prompts, tokenizer, seed, max_length
        self.epoch = 0
        self.task_names = list(tasks)
        self.records = [TASKS[name](ctx) for name in self.task_names]
        self.templates = [prompts.templates(name) for name in self.task_names]
        task_of, record_of = [], []
        for number, (name, records) in enumerate(zip(self.task_names, self.records)):
            chosen = np.arange(len(records))
            cap = (caps or {}).get(name)
            if cap and cap < len(chosen):
                chosen = np.sort(np.random.default_rng([seed, number]).choice(len(chosen), cap, replace=False))
            chosen = np.tile(chosen, (repeats or {}).get(name, 1))
            task_of.append(np.full(len(chosen), number))
            record_of.append(chosen)
        self.task_of = np.concatenate(task_of).astype(np.int64)
        self.record_of = np.concatenate(record_of).astype(np.int64)
        self._lengths: np.ndarray | None = None
        self._fitting: dict[tuple[int, frozenset], list] = {}  # (task, filled fields) -> templates that fit

    def __len__(self) -> int:
        return len(self.task_of)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def counts(self) -> dict[str, int]:
        return {name: int((self.task_of == i).sum()) for i, name in enumerate(self.task_names)}

    def texts(self, index: int, epoch: int | None = None, first_template: bool = False) -> tuple[str, str]:
        """``(prompt, response)`` of example ``index`` in ``epoch`` (default: the current one);
        ``first_template``: with the first template that fits instead of the drawn one."""
        number = int(self.task_of[index])
        values = self.records[number].fields(int(self.record_of[index]))
        filled = (number, frozenset(name for name, value in values.items() if value))
        fitting = self._fitting.get(filled)
        if fitting is None:
            fitting = self._fitting[filled] = [t for t in self.templates[number] if t.fits(values)]
        if not fitting:
            raise ValueError(f"task {self.task_names[number]}: no template fits an example with fields "
                             f"{sorted(k for k, v in values.items() if v)}")
        if first_template:
            return fitting[0].render(self.prompts.wrapper, values)
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])
        return fitting[int(rng.integers(len(fitting)))].render(self.prompts.wrapper, values)

    def lengths(self) -> np.ndarray:
        """Estimated token counts (for batching by length) with each example's first fitting
        template: code tokens count one each, other text by the tokenizer's characters per
        token measured on a sample of the examples."""
        if self._lengths is None:
            texts = [self.texts(i, first_template=True) for i in range(len(self))]
            joined = [p + r for p, r in texts]
            sample = joined[:: max(1, len(joined) // 200)]
            plain = [_CODE.sub("", t) for t in sample]
            tokens = sum(len(ids) for ids in self.tokenizer(plain, add_special_tokens=False)["input_ids"])
            chars_per_token = max(sum(map(len, plain)) / max(tokens, 1), 1e-3)
            split = [_CODE.subn("", t) for t in joined]  # (the text without code tokens, how many there were)
            self._lengths = np.array([codes + len(plain) / chars_per_token
                                      for plain, codes in split]).round().astype(np.int64)
        return self._lengths

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        pairs = [self.texts(int(i)) for i in indices]
        prompts = self.tokenizer([p for p, _ in pairs], add_special_tokens=True)["input_ids"]
        responses = self.tokenizer([r for _, r in pairs], add_special_tokens=False)["input_ids"]
        rows, labels = [], []
        for prompt, response in zip(prompts, responses):
            response = (response + [self.tokenizer.eos_token_id])[: self.max_length - 1]
            prompt = prompt[-(self.max_length - len(response)):]
            rows.append(prompt + response)
            labels.append([IGNORE] * len(prompt) + response)
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        target = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for row, (ids, label) in enumerate(zip(rows, labels)):  # left padding: responses end together
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            target[row, width - len(label):] = torch.tensor(label)
        return {"input_ids": input_ids, "labels": target,
                "next_item": torch.tensor([self.next_item(int(i)) for i in indices], dtype=torch.long)}

    def next_item(self, index: int) -> int:
        """The target item of a next-item (``seqrec``) example, else -1 (EAGER-LLM's GCT reads it)."""
        number = int(self.task_of[index])
        if self.task_names[number] != "seqrec":
            return -1
        return int(self.records[number].fields(int(self.record_of[index]))["item_id"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}
