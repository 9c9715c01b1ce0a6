"""The fast path's training step reads nothing back to the host, which CUDA graph capture needs.

Capture (genrec/training/train_step.py) fails on the GPU at the first value a step reads back to
Python (``.item()``, ``if tensor:``, a boolean-mask index, ``nonzero``): the width then trains
eagerly and the speed is gone. These tests find such reads on the CPU, before a GPU lease does,
by making every host read raise while one step body runs: the gather, the forward under
autocast, the losses, backward and gradient clipping, for TIGER and PRORec's variants.

Two things are as they are on the GPU, not as on the CPU:
* transformers skips its check of the padding mask's contents (``padding_mask.all()``, to drop
  an all-ones mask) while a CUDA stream captures; here it is told a stream captures;
* the optimiser update is left out: on CUDA it is PyTorch's fused, ``capturable`` AdamW, built
  for capture, while the CPU's reads its step count back (``step.item()``).
"""

import contextlib

import pytest
import torch
from test_fast_path import varied_split
from test_tiger import small_config

from genrec.generators.prorec import PRORec, PRORecConfig
from genrec.generators.tiger import TIGER
from genrec.tokenizers.item_codes import ItemCodes
from genrec.training.device_prefixes import DevicePrefixes
from genrec.training.train_step import ScheduledOptimizer, TrainStep


class HostRead(AssertionError):
    pass


@contextlib.contextmanager
def host_reads_raise():
    """Every way a tensor's value reaches Python raises ``HostRead`` inside the block."""
    def refuse(what):
        def raising(*args, **kwargs):
            raise HostRead(what)
        return raising

    tensor_methods = ("__bool__", "item", "tolist", "__int__", "__float__", "__index__", "numpy", "nonzero")
    torch_functions = ("nonzero", "masked_select", "unique", "argwhere")
    saved = {name: getattr(torch.Tensor, name) for name in (*tensor_methods, "__getitem__")}
    saved_functions = {name: getattr(torch, name) for name in torch_functions}

    def getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            raise HostRead("boolean-mask indexing (its result's shape depends on the values)")
        return saved["__getitem__"](self, index)

    try:
        for name in tensor_methods:
            setattr(torch.Tensor, name, refuse(f"Tensor.{name}"))
        torch.Tensor.__getitem__ = getitem
        for name in torch_functions:
            setattr(torch, name, refuse(f"torch.{name}"))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)
        for name, function in saved_functions.items():
            setattr(torch, name, function)


def test_the_detector_catches_a_host_read():
    """The check can fail: a step that branches on a tensor's value is caught."""
    x = torch.ones(3)
    with host_reads_raise(), pytest.raises(HostRead, match="__bool__"):
        if (x > 0).all():
            pass
    with host_reads_raise(), pytest.raises(HostRead, match="boolean-mask"):
        x[x > 0]
    assert bool(x.all())  # restored afterwards


def models():
    torch.manual_seed(0)
    codes = ItemCodes(torch.stack([torch.arange(50) // 10, torch.arange(50) % 10], 1), [5, 10], "manual", "v", "-")
    vectors = torch.randn(50, 6)
    values = {k: v for k, v in vars(small_config()).items() if k != "model"}
    yield "tiger", TIGER(codes, small_config(), ks=(1, 10))
    for loss, source in (("mse", "decoder"), ("infonce", "encoder")):
        config = PRORecConfig(**values, distill_weight=0.2, distill_loss=loss, distill_from=source)
        yield f"prorec-{loss}-{source}", PRORec(codes, config, vectors, ks=(1, 10))


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_a_fast_path_step_reads_nothing_back_to_the_host(monkeypatch, bf16):
    import transformers.utils.import_utils as transformers_imports

    monkeypatch.setattr(transformers_imports, "is_cuda_stream_capturing", lambda: True)
    prefixes = DevicePrefixes(varied_split(max_history=5), "cpu", [3, 5])
    for name, model in models():
        model.train()
        step = TrainStep(model, ScheduledOptimizer(model, torch.device("cpu")), prefixes, batch_size=8, bf16=bf16,
                         gradient_clip=1.0, cuda_graphs=False)
        monkeypatch.setattr(step.optimizer.optimizer, "step", lambda: None)  # see the module docstring
        step.index.copy_(torch.arange(8))
        step.weight.copy_(torch.tensor([1.0] * 7 + [0.0]))
        for width in prefixes.buckets:
            with host_reads_raise():
                step._body(width)
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in step.parameters), name
        assert float(step.loss_sum) > 0, name  # the loss accumulated on the device
