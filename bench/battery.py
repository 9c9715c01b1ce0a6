"""The bad-input battery: concrete bad inputs run end to end through the CLI.

    python bench/battery.py [--only NAME ...]     # writes results/reliability/battery.json

A case passes when the command stops with exit code 2, its message names the key or file
and says what to do (each case lists words the message must contain), and nothing was
written or deleted: every file of the workspace (data, tokenizers, checkpoints, results)
is hashed before and after. The workspace is a temporary folder with a synthetic LC-Rec
dataset (150 items with titles, 400 users) and one small trained TIGER run (``base``),
so the cases run on any machine in a few minutes, with or without ``../shared``.

Read-only folders: as a normal user a folder is made read-only with chmod; root ignores
modes, so as root a read-only tmpfs is mounted there (``chattr +i`` if mounting is not
allowed). tests/test_battery.py runs a sample of the cases.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import ROOT, SMALL_TIGER, write_synthetic_dataset  # noqa: E402

ITEMS = 150
BASE = "base"
TWIN_TITLE = "Twin Title, the Sequel"  # two items carry it: a title that names no single item


@dataclass
class Case:
    name: str
    args: list[str]  # after `python`: a script and its arguments; {ws} and {data} are filled in
    mentions: tuple[str, ...]  # what the message must contain (case-insensitive): the key or file, the fix
    prepare: Callable[[Path], None] | None = None  # writes the case's own inputs under its data folder
    context: Callable[[Path], contextlib.AbstractContextManager] | None = None  # e.g. a read-only folder
    run: Callable[[Case, Path, Path], dict] | None = None  # a case that drives its own processes
    env: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the workspace

def workspace_command(ws: Path, data: Path, *extra: str, steps: int = 30) -> list[str]:
    """``train.py`` on the synthetic dataset in ``data``, writing into the workspace ``ws``."""
    return ["train.py", "data=beauty_lcrec", f"data.root={data}", "data.directory=.", "data.name=Synthetic",
            "data.dataset=synthetic", "data.max_history=8", "tokenizer=random", f"tokenizers_dir={ws / 'tokenizers'}",
            f"results_dir={ws / 'results'}", f"checkpoints_dir={ws / 'checkpoints'}", *SMALL_TIGER,
            "trainer.precision=32-true", "trainer.fast_path=off", "trainer.batch_size=32",
            "trainer.val_check_interval=10", "trainer.val_users=100", "trainer.patience=1000",
            "trainer.max_time_minutes=null",
            f"trainer.max_steps={steps}", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", *extra]


def write_titles(folder: Path, items: int = ITEMS) -> None:
    titles = {str(i): {"title": f"Item {i}, vol. {i % 5}"} for i in range(items)}
    titles["3"]["title"] = titles["4"]["title"] = TWIN_TITLE
    (folder / "Synthetic.item.json").write_text(json.dumps(titles))


def build_workspace(ws: Path) -> None:
    """The shared dataset and the ``base`` run the evaluation and recommend cases read."""
    data = ws / "data"
    write_synthetic_dataset(data, items=ITEMS)
    write_titles(data)
    done = call([*workspace_command(ws, data, f"run={BASE}")])
    if done["exit_code"] != 0:
        raise RuntimeError(f"the base run failed:\n{done['output'][-3000:]}")


def call(args: list[str], env: dict | None = None, timeout: float = 300) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=environment,
                             timeout=timeout)
    return {"exit_code": process.returncode, "output": process.stderr + process.stdout, "stderr": process.stderr}


def snapshot(ws: Path) -> dict[str, str]:
    """Every file under the workspace and the hash of its bytes (lock files excluded: they stay by design)."""
    files = {}
    for path in sorted(ws.rglob("*")):
        if path.is_file() and path.name != ".lock":
            files[str(path.relative_to(ws))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return files


def changes(before: dict, after: dict) -> list[str]:
    return sorted({*(f"+{p}" for p in after.keys() - before.keys()), *(f"-{p}" for p in before.keys() - after.keys()),
                   *(f"~{p}" for p in before.keys() & after.keys() if before[p] != after[p])})


# ---------------------------------------------------------------- inputs the cases write

def case_data(case_dir: Path, inter, raw: bytes | None = None, items: dict | None = None) -> None:
    case_dir.mkdir(parents=True, exist_ok=True)
    path = case_dir / "Synthetic.inter.json"
    path.write_bytes(raw) if raw is not None else path.write_text(json.dumps(inter))
    if items is not None:
        (case_dir / "Synthetic.item.json").write_text(json.dumps(items))


def good_inter(users: int = 40) -> dict:
    return {str(u): [(u + 7 * k) % ITEMS for k in range(6)] for u in range(users)}


def with_user(extra) -> Callable[[Path], None]:
    """The good interactions plus one user whose list is ``extra``."""
    return lambda d: case_data(d, {**good_inter(), "bad": extra})


def with_id(value) -> Callable[[Path], None]:
    return with_user([1, 2, value, 4])


def with_items(drop: int = 0, add: int = 0) -> Callable[[Path], None]:
    def prepare(d: Path) -> None:
        inter = good_inter()
        used = sorted({i for seq in inter.values() for i in seq})
        items = {str(i): {"title": f"t{i}"} for i in used[drop:]}
        items.update({str(1000 + k): {"title": f"extra {k}"} for k in range(add)})
        case_data(d, inter, items=items)
    return prepare


def truncate(relative: str, keep: float = 0.5) -> Callable[[Path], None]:
    def prepare(ws: Path) -> None:
        path = ws / relative
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])
    return prepare


def tamper_sidecar(ws: Path) -> None:
    path = ws / "tokenizers" / "random-synthetic" / "item_codes.json"
    meta = json.loads(path.read_text())
    meta["codebook_sizes"] = [size + 1 for size in meta["codebook_sizes"]]
    path.write_text(json.dumps(meta))


def broken_group_file(d: Path) -> None:
    (d / "generator").mkdir(parents=True, exist_ok=True)
    (d / "generator" / "broken.yaml").write_text("model: tiger\nd_model: [64\n")


def nan_vectors(ws: Path) -> None:
    """A collaborative run whose item embeddings hold a NaN row (as a diverged SASRec leaves them)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from genrec.data import load_dataset
    from genrec.data.lcrec import LCRecConfig
    from genrec.features.collaborative import save_item_vectors

    dataset = load_dataset(LCRecConfig(root=str(ws / "data"), directory=".", name="Synthetic", dataset="synthetic"))
    vectors = torch.randn(dataset.n_items, 16)
    vectors[5] = float("nan")
    save_item_vectors(ws / "checkpoints" / "sasrec-nan", vectors,
                      {"dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint()})


def changed_data(ws: Path) -> None:
    """The base run's dataset, changed after training: one user's last item replaced."""
    path = ws / "data" / "Synthetic.inter.json"
    inter = json.loads(path.read_text())
    inter["0"][-1] = (inter["0"][-1] + 1) % ITEMS
    path.write_text(json.dumps(inter))


def refit_codes(ws: Path, into: str = "other-tokenizers") -> None:
    """A valid tokenizer folder of the same name whose codes differ (two items swapped), as a
    refit leaves it, under ``ws/into``."""
    sys.path.insert(0, str(ROOT))
    from genrec.tokenizers.item_codes import ItemCodes

    codes = ItemCodes.load(ws / "tokenizers" / "random-synthetic")
    swapped = codes.codes.clone()
    swapped[[0, 1]] = swapped[[1, 0]]
    ItemCodes(swapped, codes.codebook_sizes, codes.scheme, codes.dataset, codes.dataset_fingerprint,
              codes.config).save(ws / into / "random-synthetic")


def commit_results(ws: Path) -> None:
    """Put the base run's metrics.json under git, as the zoo's published results are."""
    git = ["git", "-c", "user.name=battery", "-c", "user.email=battery@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=ws / "results", check=True)
    subprocess.run([*git, "add", f"{BASE}/metrics.json"], cwd=ws / "results", check=True)
    subprocess.run([*git, "commit", "-q", "-m", "published"], cwd=ws / "results", check=True)


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` (created if needed) refuses writes for the duration, for root too."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    saved = Path(tempfile.mkdtemp())
    shutil.copytree(folder, saved, dirs_exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                      capture_output=True).returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
            shutil.rmtree(saved)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        raise RuntimeError(f"cannot make {folder} read-only as root (no mount, no chattr)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
        shutil.rmtree(saved)


# ---------------------------------------------------------------- cases that drive their own processes

def two_runs_at_once(case: Case, ws: Path, data: Path) -> dict:
    """While one process trains a run, a second on the same run name stops at once, touching
    nothing; the first is then stopped with Ctrl-C and must leave its own resumable run."""
    command = [sys.executable, *workspace_command(ws, ws / "data", "run=concurrent", steps=100_000)]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    run = ws / "checkpoints" / "concurrent"
    deadline = time.time() + 180
    while not ((run / ".lock").exists() and (run / "config.yaml").exists()) and time.time() < deadline:
        time.sleep(0.1)
    before = snapshot(run)
    second = call(workspace_command(ws, ws / "data", "run=concurrent", steps=100_000))
    problems = [] if first.poll() is None else ["the first run had ended before the second one was refused"]
    first.send_signal(signal.SIGINT)
    _, first_err = first.communicate(timeout=300)
    if first.returncode != 130 or not (run / "last.ckpt").is_file():
        problems.append(f"the first run did not stop resumably (exit {first.returncode}): {first_err[-300:]}")
    if before.get("config.yaml") != snapshot(run).get("config.yaml"):
        problems.append("config.yaml was rewritten")
    return {**second, "problems": problems}


# ---------------------------------------------------------------- the cases

def ev(*args: str) -> list[str]:
    return ["evaluate.py", f"run={BASE}", "checkpoints_dir={ws}/checkpoints", "results_dir={ws}/results",
            "tokenizers_dir={ws}/tokenizers", "data.root={ws}/data", *args]


def rec(*args: str) -> list[str]:
    return ["evaluate.py", "recommend", f"checkpoint={{ws}}/checkpoints/{BASE}", "data.root={ws}/data",
            "tokenizers_dir={ws}/tokenizers", *args]


def tr(*args: str, data: str = "{data}") -> list[str]:
    return ["{train}", data, *args]


CASES = [
    # configuration
    Case("unknown key", tr("trainer.max_epoch=3"), ("trainer.max_epoch", "max_epochs")),
    Case("wrong type", tr("trainer.batch_size=abc"), ("trainer.batch_size", "abc")),
    Case("unknown group file", tr("generator=tigr"), ("generator", "tigr", "tiger")),
    Case("YAML syntax on the command line", tr("evaluation.ks=[1,5"), ("evaluation.ks=[1,5",)),
    Case("YAML syntax in a group file", tr("generator=broken"), ("broken.yaml",), prepare=broken_group_file,
         env={"GENREC_CONFIG_PATH": "{data}"}),
    Case("max_history=0", tr("data.max_history=0"), ("data.max_history", "at least 1")),
    Case("batch_size=0", tr("trainer.batch_size=0"), ("trainer.batch_size", "at least 1")),
    Case("evaluation.ks empty", tr("evaluation.ks=[]"), ("evaluation.ks",)),
    Case("evaluation.ks holds 0", tr("evaluation.ks=[0,10]"), ("evaluation.ks",)),
    Case("evaluation.ks above the beam", tr("evaluation.ks=[10,50]"), ("evaluation.ks", "beam_size")),
    Case("monitor not in ks", tr("evaluation.monitor=ndcg@50"), ("evaluation.monitor", "ndcg@50")),
    Case("bad precision on an existing run", tr(f"run={BASE}", "trainer.precision=fp99", data="data.root={ws}/data"),
         ("trainer.precision", "fp99")),
    Case("unknown stage", tr("stage=tokeniser"), ("stage", "tokenizer")),
    # data
    Case("data root missing", tr(data="data.root={ws}/no-such-folder"), ("no-such-folder",)),
    Case("data root is a file", tr(data="data.root={ws}/data/Synthetic.inter.json"), ("Synthetic.inter.json",
                                                                                        "not a folder")),
    Case("LC-Rec file is not JSON", tr(), ("Synthetic.inter.json",),
         prepare=lambda d: case_data(d, None, raw=b'{"0": [1, 2, 3')),
    Case("LC-Rec list instead of dict", tr(), ("Synthetic.inter.json", "dict"),
         prepare=lambda d: case_data(d, [[1, 2, 3], [4, 5, 6]])),
    Case("LC-Rec id null", tr(), ("Synthetic.inter.json", "null"), prepare=with_id(None)),
    Case("LC-Rec id true", tr(), ("Synthetic.inter.json", "true"), prepare=with_id(True)),
    Case("LC-Rec id 3.5", tr(), ("Synthetic.inter.json", "3.5"), prepare=with_id(3.5)),
    Case("LC-Rec id [7, 8]", tr(), ("Synthetic.inter.json", "[7, 8]"), prepare=with_id([7, 8])),
    Case("LC-Rec negative id", tr(), ("Synthetic.inter.json", "-3"), prepare=with_id(-3)),
    Case("LC-Rec user list not a list", tr(), ("Synthetic.inter.json", "bad"), prepare=with_user("1,2,3")),
    Case("every user too short", tr(), ("3 items",), prepare=lambda d: case_data(d, {str(u): [u, u + 1]
                                                                                      for u in range(50)})),
    Case("empty user lists only", tr(), ("Synthetic.inter.json",), prepare=lambda d: case_data(d, {"a": [], "b": []})),
    Case("duplicate items in a sequence", tr(), ("data.duplicates", "dedupe"), prepare=with_user([1, 2, 1, 3, 4])),
    Case("item file missing ids", tr(), ("Synthetic.item.json", "item_file"), prepare=with_items(drop=3)),
    Case("item file with extra ids", tr(), ("Synthetic.item.json", "item_file"), prepare=with_items(add=2)),
    Case("non-UTF-8 bytes", tr(), ("Synthetic.inter.json", "UTF-8", "re-encode"),
         prepare=lambda d: case_data(d, None, raw='{"0": [1, 2, 3], "é": [4, 5, 6]}'.encode("latin-1"))),
    Case("NaN item vectors", ["train.py", "stage=tokenizer", "data=beauty_lcrec", "data.root={ws}/data",
                              "data.directory=.", "data.name=Synthetic", "data.dataset=synthetic", "tokenizer=rqvae",
                              "tokenizer.name=nan-check", "tokenizer.vectors=collaborative",
                              "tokenizer.collaborative_run=sasrec-nan", "tokenizers_dir={ws}/tokenizers",
                              "results_dir={ws}/results", "checkpoints_dir={ws}/checkpoints"],
         ("NaN", "tokenizer.vectors=collaborative"), prepare=lambda d: nan_vectors(d.parent.parent)),
    # recommend
    Case("recommend unknown id", rec("history=[99999]"), ("99999",)),
    Case("recommend unknown title", rec("--item", "No Such Title, Anywhere"), ("No Such Title, Anywhere",)),
    Case("recommend ambiguous title", rec("--item", TWIN_TITLE), (TWIN_TITLE, "id")),
    Case("recommend empty history", rec(), ("history", "--item")),
    Case("recommend 1,000-item history", rec("history=[" + ",".join(str(i % ITEMS) for i in range(1000)) + "]"),
         ("top_k",)),
    Case("recommend top_k=0", rec("history=[1,2]", "top_k=0"), ("top_k",)),
    Case("recommend top_k above the catalogue", rec("history=[1,2]", "top_k=1000"), ("top_k",)),
    Case("recommend missing checkpoint", ["evaluate.py", "recommend", "checkpoint={ws}/checkpoints/nope",
                                          "history=[1]"], ("nope",)),
    Case("recommend unknown option", rec("--items", "x"), ("--items", "--item")),
    # evaluation and artefacts
    Case("evaluate with arguments it does not use", ev("evaluation.ks=[1,50]", "trainer.max_epochs=oops"),
         ("evaluation.ks", "train a run")),
    Case("evaluate on changed data", ev(), ("fingerprint",), prepare=lambda d: changed_data(d.parent.parent)),
    Case("codes that do not match the checkpoint", ev("tokenizers_dir={ws}/other-tokenizers"), ("codes",),
         prepare=lambda d: refit_codes(d.parent.parent)),
    Case("truncated safetensors", tr(data="data.root={ws}/data"), ("codes.safetensors",),
         prepare=lambda d: truncate("tokenizers/random-synthetic/codes.safetensors")(d.parent.parent)),
    Case("tampered JSON sidecar", tr(data="data.root={ws}/data"), ("item_codes.json",),
         prepare=lambda d: tamper_sidecar(d.parent.parent)),
    Case("truncated checkpoint", ev(), ("best.ckpt",),
         prepare=lambda d: truncate(f"checkpoints/{BASE}/best.ckpt")(d.parent.parent)),
    # outputs and concurrency
    Case("read-only results folder", tr("run=readonly-results", data="data.root={ws}/data"), ("not writable",
                                                                                              "results_dir"),
         context=lambda ws: read_only(ws / "results")),
    Case("read-only checkpoints folder", tr("run=readonly-checkpoints", data="data.root={ws}/data"),
         ("not writable", "checkpoints_dir"), context=lambda ws: read_only(ws / "checkpoints" / "readonly-checkpoints")),
    Case("two runs with one name at once", [], ("being trained", "concurrent"), run=two_runs_at_once),
    # resume
    Case("resume without last.ckpt", tr("run=never-trained", "trainer.resume=true", data="data.root={ws}/data"),
         ("last.ckpt", "trainer.resume")),
    Case("resume with a changed model size", tr(f"run={BASE}", "trainer.resume=true", "generator.d_model=48",
                                                 data="data.root={ws}/data"), ("generator.d_model",)),
    Case("resume after the codes were refit", tr(f"run={BASE}", "trainer.resume=true", data="data.root={ws}/data"),
         ("item codes", "last.ckpt"), prepare=lambda d: refit_codes(d.parent.parent, into="tokenizers")),
    Case("retrain over a committed result", tr(f"run={BASE}", data="data.root={ws}/data"),
         ("overwrite_results", "metrics.json"), prepare=lambda d: commit_results(d.parent.parent)),
]


# ---------------------------------------------------------------- running

def fill(args: list[str], ws: Path, data: Path) -> list[str]:
    """The case's command with ``{train}`` (the workspace's train.py command), ``{data}`` (its data
    root: the case's own files, else the shared dataset) and ``{ws}`` filled in."""
    out = []
    for arg in args:
        if arg == "{train}":
            out += [a for a in workspace_command(ws, data) if not a.startswith("data.root=")]
        elif arg == "{data}":
            out.append(f"data.root={data}")
        else:
            out.append(arg.replace("{ws}", str(ws)))
    return out


def run_case(case: Case, ws: Path) -> dict:
    data = ws / "cases" / case.name.replace(" ", "-").replace("/", "-")
    data.mkdir(parents=True, exist_ok=True)
    if case.prepare:
        case.prepare(data)
    if not any(data.iterdir()):
        data.rmdir()
        data = ws / "data"
    env = {k: v.replace("{ws}", str(ws)).replace("{data}", str(data)) for k, v in case.env.items()}
    before = snapshot(ws)
    start = time.perf_counter()
    with case.context(ws) if case.context else contextlib.nullcontext():
        if case.run:
            result = case.run(case, ws, data)
        else:
            result = {**call(fill(case.args, ws, data), env), "problems": []}
    seconds = time.perf_counter() - start
    message = next((line for line in result["stderr"].splitlines() if line.startswith("error:")), "")
    problems = list(result["problems"])
    if result["exit_code"] != 2:
        problems.append(f"exit code {result['exit_code']}, not 2")
    full = " ".join(line for line in result["stderr"].splitlines() if line.startswith("error:") or not message)
    missing = [m for m in case.mentions if m.lower() not in full.lower()]
    if missing:
        problems.append(f"message does not mention {missing}")
    if not case.run:
        written = changes(before, snapshot(ws))
        if written:
            problems.append(f"files changed: {written[:5]}")
    return {"case": case.name, "command": " ".join(["python", *fill(case.args, Path("<ws>"), Path("<case>"))])
            if case.args else "two train.py processes on run=concurrent at once",
            "exit_code": result["exit_code"], "message": message[:400] or result["output"].strip()[-400:],
            "passed": not problems, "problems": problems, "seconds": round(seconds, 1)}


def run_battery(names: list[str] | None = None, workdir: Path | None = None, echo: bool = True,
                jobs: int = 2) -> dict:
    """Build the workspace once; each case runs in its own copy of it, ``jobs`` cases at a time."""
    unknown = set(names or []) - {c.name for c in CASES}
    if unknown:
        raise SystemExit(f"unknown case(s) {sorted(unknown)}")
    cases = [c for c in CASES if not names or c.name in names]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        pristine = Path(tmp) / "pristine"
        build_workspace(pristine)

        def one(number: int) -> dict:
            ws = Path(tmp) / f"case-{number:02d}"
            shutil.copytree(pristine, ws, symlinks=True)
            result = run_case(cases[number], ws)
            shutil.rmtree(ws, ignore_errors=True)
            if echo:
                print(f"{'pass' if result['passed'] else 'FAIL'}  {result['case']:<48} exit {result['exit_code']}  "
                      f"{result['message'][:90]}" + (f"\n      {result['problems']}" if result["problems"] else ""),
                      flush=True)
            return result

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, range(len(cases))))
    return {"cases": len(results), "passed": sum(r["passed"] for r in results), "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (each is one process)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from genrec.artefacts import write_json_atomic
    from genrec.run_info import git_commit, hardware, versions

    start = time.perf_counter()
    record = run_battery(args.only, jobs=args.jobs)
    record.update({"commit": git_commit(), "versions": versions(), "hardware": hardware(),
                   "wall_time_s": round(time.perf_counter() - start, 1)})
    if not args.only:
        write_json_atomic(ROOT / "results" / "reliability" / "battery.json", record)
    print(f"{record['passed']} of {record['cases']} cases passed")
    return 0 if record["passed"] == record["cases"] else 1


if __name__ == "__main__":
    sys.exit(main())
