"""Instruction tasks as data: each task is one function listing its examples' fields, and its
templates (several paraphrases) live in YAML (``configs/prompts/<name>.yaml``).

A task function takes a ``TaskContext`` and returns ``Records``: how many examples it has and
the fields of example ``i`` (``{"inters": ..., "item": ...}``). A template fills its
``instruction`` and ``response`` from those fields; the wrapper (LC-Rec's Alpaca prompt) wraps
the instruction. A template naming a field an example lacks (an empty description) is not used
for that example.

Adding a task: write a function here decorated with ``@task("name")`` and add a ``name:`` list
of templates to the prompt file. LC-Rec's ``itemsearch`` and ``preferenceobtain`` need user
intentions and preferences written by an external LLM (GPT-3.5 in the paper); no local model
here writes them, so they are left out (docs/llm.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from genrec.data.dataset import Catalog
from genrec.data.splits import LeaveOneOut
from genrec.data.text import item_texts, render_field
from genrec.errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "configs" / "prompts"
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass
class Records:
    """``count`` examples whose fields come from ``fields(i)``."""

    count: int
    fields: Callable[[int], dict[str, str]]

    def __len__(self) -> int:
        return self.count


def catalog_texts(catalog: Catalog, name: str) -> list[str]:
    """One text per item from catalogue field ``name`` ("" where it is missing); trailing
    punctuation is stripped as LC-Rec strips titles (``.strip(".!?,;:`")``)."""
    values = catalog.fields.get(name) or [None] * len(catalog)
    return [render_field(v).strip().strip(".!?,;:`") for v in values]


@dataclass
class TaskContext:
    """What task functions read: the training part of the split, the catalogue's text and the codes."""

    split: LeaveOneOut
    item_codes_text: list[str]  # "<a_1><b_2><c_3>" per item
    titles: list[str]
    descriptions: list[str]
    history_separator: str = ", "  # LC-Rec's his_sep
    texts: list[str] | None = None  # each item's full text (data.text_template); None: its title
    held_out: frozenset[int] = frozenset()  # items no task may show (cold-start items, data.cold_start_share)

    @classmethod
    def build(cls, split: LeaveOneOut, catalog: Catalog, item_codes_text: list[str], history_separator: str = ", ",
              text_template: str | None = None, held_out=()):
        titles = catalog_texts(catalog, "title")
        texts = item_texts(catalog, text_template) if text_template else titles
        return cls(split, item_codes_text, titles, catalog_texts(catalog, "description"), history_separator, texts,
                   frozenset(int(i) for i in held_out))

    def history_codes(self, history) -> str:
        return self.history_separator.join(self.item_codes_text[i] for i in history)

    def history_titles(self, history) -> str:
        return self.history_separator.join(f'"{self.titles[i]}"' for i in history)

    def item_fields(self, item: int) -> dict[str, str]:
        return {"item": self.item_codes_text[item], "title": self.titles[item], "description": self.descriptions[item],
                "text": (self.texts or self.titles)[item]}


TASKS: dict[str, Callable[[TaskContext], Records]] = {}


def task(name: str):
    def register(function):
        TASKS[name] = function
        return function
    return register


def _prefix_records(ctx: TaskContext, extra: Callable[[np.ndarray], dict[str, str]]) -> Records:
    """One example per training prefix (history -> next item), as seqrec and its fusions use."""
    users, positions = ctx.split.prefix_examples()

    def fields(i: int) -> dict[str, str]:
        user, t = int(users[i]), int(positions[i])
        history = ctx.split.history(user, t)
        item = int(ctx.split.train_sequences[user][t])
        return {**ctx.item_fields(item), **extra(history), "item_id": str(item)}

    return Records(len(users), fields)


@task("seqrec")
def seqrec(ctx: TaskContext) -> Records:
    """History codes -> the next item's codes: the recommendation task."""
    return _prefix_records(ctx, lambda history: {"inters": ctx.history_codes(history)})


@task("fusionseqrec")
def fusionseqrec(ctx: TaskContext) -> Records:
    """History codes -> the next item's title; history titles -> the next item's codes."""
    return _prefix_records(ctx, lambda history: {"inters": ctx.history_codes(history),
                                                 "inter_titles": ctx.history_titles(history)})


@task("titles2next")
def titles2next(ctx: TaskContext) -> Records:
    """History as item titles -> the next item's codes (STORE's auxiliary text-to-token task, our reading)."""
    return _prefix_records(ctx, lambda history: {"inter_titles": ctx.history_titles(history)})


def _catalogue_records(ctx: TaskContext) -> Records:
    """One example per item that has a title (every item in the catalogue, LC-Rec's item.json),
    held-out items excepted."""
    items = [i for i, title in enumerate(ctx.titles) if title and i not in ctx.held_out]
    return Records(len(items), lambda i: ctx.item_fields(items[i]))


@task("item2index")
def item2index(ctx: TaskContext) -> Records:
    """Item text (title, description, or the full ``text``) -> its codes (STORE: text -> token)."""
    return _catalogue_records(ctx)


@task("index2item")
def index2item(ctx: TaskContext) -> Records:
    """Item codes -> its title (and description where the data has one; STORE: token -> text)."""
    return _catalogue_records(ctx)


@dataclass
class Template:
    instruction: str
    response: str

    def __post_init__(self):
        self.fields = tuple(sorted(set(_FIELD.findall(self.instruction + self.response))))

    def fits(self, values: dict[str, str]) -> bool:
        for name in self.fields:
            if not values.get(name):
                return False
        return True

    def prompt(self, wrapper: str, values: dict[str, str]) -> str:
        return wrapper.format(instruction=self.instruction.format(**values))

    def render(self, wrapper: str, values: dict[str, str]) -> tuple[str, str]:
        """``(prompt, response)`` texts."""
        return self.prompt(wrapper, values), self.response.format(**values)


@dataclass
class PromptSet:
    wrapper: str
    tasks: dict[str, list[Template]]

    @classmethod
    def load(cls, name_or_path: str) -> PromptSet:
        """``configs/prompts/<name>.yaml``, or a YAML file's path."""
        path = Path(name_or_path).expanduser()
        if not path.suffix:
            path = PROMPTS_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            choices = sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))
            raise ConfigError(f"generator.prompts={name_or_path}: no file {path}; choices: {choices} or a .yaml path")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if "{instruction}" not in str(data.get("wrapper", "")) or not isinstance(data.get("tasks"), dict):
            raise ConfigError(f"{path}: needs a 'wrapper' with {{instruction}} and a 'tasks' mapping of template lists")
        try:
            tasks = {name: [Template(t["instruction"], t["response"]) for t in templates]
                     for name, templates in data["tasks"].items()}
        except (KeyError, TypeError):
            raise ConfigError(f"{path}: each template needs 'instruction' and 'response' strings") from None
        return cls(data["wrapper"], tasks)

    def corpus(self) -> list[str]:
        """Every template's text with its placeholders removed (a tiny tokenizer's training text)."""
        texts = [_FIELD.sub(" ", self.wrapper)]
        return texts + [_FIELD.sub(" ", t.instruction + " " + t.response) for ts in self.tasks.values() for t in ts]

    def templates(self, task_name: str) -> list[Template]:
        if task_name not in self.tasks:
            raise ConfigError(f"the prompt file has no templates for task {task_name!r}; it has {sorted(self.tasks)}")
        return self.tasks[task_name]


def check_tasks(names) -> None:
    unknown = sorted(set(names) - set(TASKS))
    if unknown:
        raise ConfigError(f"generator.tasks: unknown task(s) {unknown}; known: {sorted(TASKS)} (genrec/llm/tasks.py)")
