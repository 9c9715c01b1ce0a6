"""Faults: kill -9 and Ctrl-C during training resume exactly; kill -9 during a tokenizer fit
leaves nothing a later run would trust; two processes never train one run at once."""

import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from faults import RUN, drill, train_command, write_synthetic_dataset  # noqa: E402


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return drill(tmp_path_factory.mktemp("uninterrupted"), steps=100, kill_after=40, interrupt=None)


@pytest.mark.parametrize("interrupt", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, interrupt):
    resumed = drill(tmp_path, steps=100, kill_after=40, interrupt=interrupt)
    assert resumed["interrupted_exit_code"] == (130 if interrupt == signal.SIGINT else -signal.SIGKILL)
    assert 40 <= resumed["resumed_from_step"] < 100
    assert resumed["final_weights_sha256"] == uninterrupted["final_weights_sha256"]
    assert resumed["test"] == uninterrupted["test"] and resumed["steps"] == 100
    # nothing to worry a user: Lightning's "dataloader is not resumable" does not apply (the data
    # module restores its place in the epoch; the weights above show it), so genrec.quiet drops it
    assert resumed["resumed_warnings"] == [], resumed["resumed_warnings"]


def test_kill_9_during_a_tokenizer_fit_leaves_no_artefact(tmp_path):
    write_synthetic_dataset(tmp_path)
    tokenizers = tmp_path / "tokenizers"
    fit = subprocess.Popen([*train_command(tmp_path, 10)[:2], "stage=tokenizer", "data=beauty_lcrec",
                            f"data.root={tmp_path}", "data.directory=.", "data.name=Synthetic", "data.dataset=synthetic",
                            "tokenizer=rqvae", "tokenizer.vectors=none", "tokenizer.steps=100000",
                            f"tokenizers_dir={tokenizers}", f"results_dir={tmp_path / 'results'}"],
                           cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = threading.Timer(120, fit.kill)  # a fit that never says it began fails here, never hangs the suite
    deadline.start()
    began = any("codebooks initialised by k-means" in line for line in fit.stdout)  # stops at the line or at EOF
    deadline.cancel()
    assert began, "the fit never printed that its k-means initialisation was done"
    time.sleep(1)  # deep inside the 100k-step fit
    assert fit.poll() is None, "the fit ended before it could be killed"
    fit.kill()
    fit.wait()
    assert not (tokenizers / "rqvae-synthetic").exists()  # no folder a later run would reuse
    assert not (tmp_path / "results" / "tokenizers").exists()


def test_a_second_process_cannot_train_the_same_run(tmp_path):
    """While a run trains (a child process holding its lock), this process is refused the same run."""
    from genrec.config import compose
    from genrec.errors import ArtefactError
    from genrec.training.pipeline import train_run

    write_synthetic_dataset(tmp_path)
    command = train_command(tmp_path, 100000)  # far longer than the test: the first run still trains when killed
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    lock = tmp_path / "checkpoints" / RUN / ".lock"
    try:
        deadline = time.monotonic() + 120  # a lock never written fails here, not after 100k steps
        while first.poll() is None and not (lock.exists() and lock.read_text().startswith("pid ")):
            assert time.monotonic() < deadline, f"the first run wrote no lock in 120 s ({lock})"
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the lock was tried"
        with pytest.raises(ArtefactError, match=f"is being trained by pid {first.pid}"):
            train_run(compose(command[2:]))
    finally:
        first.kill()
        first.wait()


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    from genrec.config import compose
    from genrec.errors import ConfigError
    from genrec.training.pipeline import train_run

    write_synthetic_dataset(tmp_path)
    with pytest.raises(ConfigError, match="trainer.resume=true, but .*last.ckpt does not exist"):
        train_run(compose(train_command(tmp_path, 10, "trainer.resume=true")[2:]))


def test_early_stopping_inside_the_first_epoch_ends_the_run_normally(tmp_path):
    """Lightning leaves EarlyStopping.stopped_epoch at 0 when the stop comes in epoch 0; the run
    must still end as early-stopped (a report, not a paused run), not as if it were interrupted."""
    import json

    from genrec.config import compose
    from genrec.training.pipeline import train_run

    write_synthetic_dataset(tmp_path)
    # a learning rate of 1e-12 never improves on the first check: patience 2 stops at the third
    result = train_run(compose(train_command(tmp_path, 2000, "trainer.patience=2", "generator.lr=1e-12")[2:]))
    assert not result["train"]["paused"]
    train = json.loads((tmp_path / "results" / RUN / "metrics.json").read_text())["train"]
    assert train["stop_reason"] == "early_stopping" and train["steps"] == 60  # inside the first epoch (~110 steps)


@pytest.mark.parametrize("fast_path", ["off", "on"])
def test_a_part_ended_by_its_budget_skips_evaluation_when_asked_and_the_next_part_reports(tmp_path, fast_path):
    """``trainer.stop_after_minutes`` ends a part resumably; with ``trainer.evaluate_paused=false``
    it evaluates nothing and writes no report (a later part on the same machine will); resumed,
    the run goes on to its own end and reports."""
    from genrec.config import compose
    from genrec.training.pipeline import train_run

    write_synthetic_dataset(tmp_path)
    args = [*train_command(tmp_path, 100)[2:], "trainer.val_check_interval=50", f"trainer.fast_path={fast_path}"]
    part = train_run(compose([*args, "trainer.stop_after_minutes=0.001", "trainer.evaluate_paused=false"]))
    assert part["paused"] and part["train"]["stop_reason"] == "max_time" and 0 < part["train"]["steps"] < 100
    assert not (tmp_path / "results" / RUN / "metrics.json").exists()
    assert (tmp_path / "checkpoints" / RUN / "last.ckpt").is_file()
    rest = train_run(compose([*args, "trainer.resume=true"]))
    assert rest["train"]["stop_reason"] == "max_steps" and rest["train"]["steps"] == 100
    assert not rest["train"]["paused"] and (tmp_path / "results" / RUN / "metrics.json").is_file()
    assert rest["train"]["train_time_total_s"] > part["train"]["train_time_total_s"] > 0  # both parts, no cap set


def test_a_validation_pace_chosen_under_a_cap_survives_a_resume_without_one(tmp_path):
    """Under a time cap too short for 3 checks at the configured interval, the run validates more
    often (engine.ValidationPace) and the interval travels in last.ckpt. A part resumed with no cap
    keeps it: before the fix it went back to the configured 100,000 steps and never validated, so
    the part's training could not be selected."""
    import csv

    import torch

    from genrec.config import compose
    from genrec.training.pipeline import train_run

    write_synthetic_dataset(tmp_path)
    args = [*train_command(tmp_path, 100_000)[2:], "trainer.val_check_interval=100000"]
    train_run(compose([*args, "trainer.stop_after_minutes=0.1", "trainer.evaluate_paused=false"]))
    saved = torch.load(tmp_path / "checkpoints" / RUN / "last.ckpt", map_location="cpu", weights_only=True)
    chosen = next(v["chosen"] for k, v in saved["callbacks"].items() if "ValidationPace" in k)
    assert chosen is not None and 10 <= chosen < 100_000
    train_run(compose([*args, "trainer.resume=true", f"trainer.max_steps={saved['global_step'] + 3 * chosen + 1}"]))
    with open(tmp_path / "checkpoints" / RUN / "logs" / "resumed-1" / "metrics.csv") as f:
        checks = [int(row["step"]) for row in csv.DictReader(f) if row.get("valid/ndcg@10")]
    assert len(checks) >= 3 and all(b - a == chosen for a, b in zip(checks, checks[1:])), (chosen, checks)
