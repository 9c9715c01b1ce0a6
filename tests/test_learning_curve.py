"""A run's learning curve is published with its results, so a checkout without the run's
git-ignored logs (a fresh clone, the machine the results came back to) still has it."""

import json
import sys
from pathlib import Path

from genrec.evaluation.learning_curve import TRAIN_POINTS_KEPT, published_curve, read_curve, save_curve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


def write_logs(run_dir: Path, rows: list[dict], part: str = "") -> None:
    path = run_dir / "logs" / part / "metrics.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["epoch", "step", "train/loss", "valid/ndcg@10", "valid/recall@10"]
    path.write_text(",".join(keys) + "\n" + "".join(",".join(str(r.get(k, "")) for k in keys) + "\n" for r in rows))


def test_the_published_curve_outlives_the_logs_and_keeps_the_training_loss_small(tmp_path):
    run_dir = tmp_path / "checkpoints" / "run"
    losses = [{"epoch": 0, "step": s, "train/loss": 5 - s / 1000} for s in range(2500)]
    write_logs(run_dir, [*losses, {"epoch": 0, "step": 999, "valid/ndcg@10": 0.01, "valid/recall@10": 0.02}])
    write_logs(run_dir, [{"epoch": 1, "step": 2999, "valid/ndcg@10": 0.03, "valid/recall@10": 0.05}], "resumed-1")
    curve = read_curve(run_dir)
    assert [c["step"] for c in curve["valid"]] == [999, 2999]  # both parts of the resumed run
    save_curve(curve, tmp_path / "results" / "run" / "learning_curve.json")
    for log in run_dir.rglob("metrics.csv"):
        log.unlink()  # the logs stay behind on the machine that trained
    published = published_curve("run", tmp_path / "results", tmp_path / "checkpoints")
    assert published["valid"] == curve["valid"]
    steps = [r["step"] for r in published["train"]]
    assert len(steps) <= TRAIN_POINTS_KEPT + 1 and steps[0] == 0 and steps[-1] == 2499
    assert steps == sorted(steps) and max(b - a for a, b in zip(steps, steps[1:])) <= 3


def test_a_run_published_before_the_file_reads_its_logs_and_a_missing_one_is_empty(tmp_path):
    write_logs(tmp_path / "checkpoints" / "old", [{"epoch": 0, "step": 9, "valid/ndcg@10": 0.2,
                                                   "valid/recall@10": 0.4}])
    assert published_curve("old", tmp_path / "results", tmp_path / "checkpoints")["valid"][0]["step"] == 9
    assert published_curve("absent", tmp_path / "results", tmp_path / "checkpoints") == {"valid": [], "train": []}


def test_the_tiger_summary_reads_curves_from_results(tmp_path, monkeypatch):
    import reproduce

    monkeypatch.chdir(tmp_path)
    valid = [{"epoch": 0, "step": 99, "valid_ndcg@10": 0.1, "valid_recall@10": 0.2, "valid_ndcg@5": 0.05}]
    save_curve({"valid": valid, "train": []}, Path("results") / "tiger-rqvae-beauty" / "learning_curve.json")
    assert reproduce.learning_curve("tiger-rqvae-beauty") == [
        {"epoch": 0, "step": 99, "valid_ndcg@10": 0.1, "valid_recall@10": 0.2}]


def test_the_prorec_summary_shows_a_fusion_figure_only_for_the_codes_the_run_read(tmp_path, monkeypatch):
    import prorec

    monkeypatch.chdir(tmp_path)
    fusion = {"semantic_domination": {"text_overlap": 0.1, "collaborative_overlap": 1.0}}
    report = Path("results") / "tokenizers" / "prorec-beauty.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"codes_fingerprint": "aaaa", "fusion": fusion}))
    assert prorec.fusion_of_the_codes_read({"item_codes": {"fingerprint": "aaaa"}}, "prorec-beauty") == (
        fusion, "same codes")
    assert prorec.fusion_of_the_codes_read({"item_codes": {"fingerprint": "bbbb"}}, "prorec-beauty") == (
        None, "refit since")
    assert prorec.fusion_of_the_codes_read({}, "prorec-beauty") == (fusion, "unchecked")
    assert prorec.fusion_of_the_codes_read({}, "prorec-toys") == (None, "no tokenizer report")
