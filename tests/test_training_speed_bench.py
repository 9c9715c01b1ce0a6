"""bench/tiger_training_speed.py's GPU warm-up, which no CPU run reaches: before any timed step
every bucket width of the plan has been warmed and then captured as a CUDA graph (or has fallen
back to eager steps), and the record says which. Checked with a stand-in for TrainStep that
follows its warm -> capture (or capture failed) sequence."""

import json
import sys
import types
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import tiger_training_speed  # noqa: E402


class StandInStep:
    """TrainStep's states on a GPU: a width's first step is eager (warm), its second captures."""

    use_graphs = True

    def __init__(self, failing_widths):
        self.graphs, self.warmed, self.eager_widths, self.failing = {}, set(), set(), set(failing_widths)

    def __call__(self, index, weight, width):
        if width in self.graphs or width in self.eager_widths:
            return
        if width not in self.warmed:
            self.warmed.add(width)
        elif width in self.failing:
            self.eager_widths.add(width)
        else:
            self.graphs[width] = "graph"


class Plan(types.SimpleNamespace):
    def __len__(self):
        return len(self.widths)


@pytest.mark.parametrize("failing", [(), (20,)], ids=["all-captured", "one-fails"])
def test_every_bucket_is_captured_before_timing_even_rare_ones(failing):
    fast = tiger_training_speed.FastPath.__new__(tiger_training_speed.FastPath)
    fast.step, fast.position = StandInStep(failing), 0
    fast.optimizer = types.SimpleNamespace(set_step=lambda step: None)
    widths = [3] * 30 + [5] * 3 + [10, 20]  # the warm-up steps alone meet only width 3
    fast.plan = Plan(widths=widths, indices=torch.zeros(len(widths), 4), weights=torch.ones(len(widths), 4))
    fast.warm_up()
    record = fast.capture_record()
    assert record["captured_widths"] == sorted({3, 5, 10, 20} - set(failing))
    assert record["capture_failed_widths"] == list(failing)


def test_on_a_gpu_each_batch_size_is_recorded_before_the_next_starts(tmp_path, monkeypatch):
    """A time cap that kills the bench during batch 1024 still leaves batch 256's rows on disk,
    which bench/tiger_recipe.py --train-seconds reads."""

    def rows_of(cfg, datamodule, device, batch_sizes, steps, repeats):
        if batch_sizes == [1024]:
            raise KeyboardInterrupt  # the cap's signal, stood in for
        return [tiger_training_speed.row(name, 256, [0.01]) for name in tiger_training_speed.GPU_SETTINGS], {}

    monkeypatch.setattr(tiger_training_speed, "build_datamodule", lambda cfg: None)
    monkeypatch.setattr(tiger_training_speed, "gpu_rows", rows_of)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "stand-in GPU")
    monkeypatch.setattr(sys, "argv", ["tiger_training_speed.py", "--device", "cuda", f"results_dir={tmp_path}"])
    with pytest.raises(KeyboardInterrupt):
        tiger_training_speed.main()
    record = json.loads((tmp_path / "bench" / "tiger_training_speed_cuda.json").read_text())
    assert record["batch_sizes_asked"] == [256, 1024]
    assert {r["batch_size"] for r in record["settings"]} == {256}
    assert record["gpu_fast_path_samples_per_s"] == pytest.approx(25_600)
    assert (tmp_path / "bench" / "tiger_training_speed_cuda.md").is_file()
