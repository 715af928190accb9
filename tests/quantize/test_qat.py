"""QAT: the fine-tuning loop, its BN-freeze / observer-disable schedule, KD checks, conversion."""
from __future__ import annotations

import math

import pytest
import torch

from edge.errors import ConfigError, DataError
from quantize.config import QatCfg
from quantize.graph import bn_training_flags, observers_enabled, prepare
from quantize.qat import _fine_tune

from .conftest import NUM_CLASSES, SIZE


def batches_fn(per_epoch: int = 1):
    def batches(epoch: int):
        generator = torch.Generator().manual_seed(epoch)
        for _ in range(per_epoch):
            yield (torch.randn(2, 3, SIZE, SIZE, generator=generator),
                   torch.randint(0, NUM_CLASSES, (2, SIZE, SIZE), generator=generator))
    return batches


@pytest.fixture(scope="module")
def prepared_qat():
    """One prepared QAT graph per module: ``prepare_qat_pt2e`` costs seconds of pattern matching."""
    from quantize.config import QuantCfg

    from .conftest import make_tiny

    return prepare(make_tiny(), QuantCfg(input_size=SIZE), qat=True, float_layers=())


def test_fine_tune_trains_with_finite_losses_and_follows_the_bn_and_observer_schedule(prepared_qat):
    from .conftest import make_tiny

    flags = []  # (all BN in training mode, all observers on) when each batch is fetched, i.e. before
    batches = batches_fn(per_epoch=1)  # that iteration's schedule step

    def recording_batches(epoch: int):
        flags.append((all(bn_training_flags(prepared_qat)), all(observers_enabled(prepared_qat))))
        yield from batches(epoch)

    before = prepared_qat.state_dict()["stem.0.weight"].clone()
    qcfg = QatCfg(iters=3, lr=1e-3, freeze_bn_after=1, disable_observers_after=2)
    history = _fine_tune(prepared_qat, recording_batches, [make_tiny()], qcfg, torch.device("cpu"))
    assert len(history) == 3  # one batch per epoch: three epochs
    assert all(math.isfinite(h[k]) for h in history for k in ("ce", "kd", "total"))
    assert not torch.equal(before, prepared_qat.state_dict()["stem.0.weight"])  # the weights trained
    flags.append((any(bn_training_flags(prepared_qat)), any(observers_enabled(prepared_qat))))
    assert flags == [(True, True), (True, True), (False, True), (False, False)]


def test_teacher_with_another_label_space_is_refused(prepared_qat):
    class WrongTeacher(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], NUM_CLASSES + 1, 8, 8)

    with pytest.raises(ConfigError, match="same|share"):
        _fine_tune(prepared_qat, batches_fn(), [WrongTeacher()], QatCfg(iters=1), torch.device("cpu"))


def test_empty_training_data_fails_clearly(prepared_qat):
    with pytest.raises(DataError, match="no batches"):
        _fine_tune(prepared_qat, lambda epoch: iter(()), [], QatCfg(iters=1), torch.device("cpu"))


@pytest.mark.slow
def test_qat_converts_to_a_lint_clean_qdq_onnx(tiny_model, make_cfg, tmp_path):
    from quantize.export_qdq import export_qdq_onnx
    from quantize.qat import qat
    from quantize.qdq_lint import lint_qdq

    quantized = qat(tiny_model, batches_fn(per_epoch=2), make_cfg())
    assert quantized.method == "qat" and len(quantized.history) == 4
    assert all(math.isfinite(h["total"]) for h in quantized.history)
    x = torch.randn(1, 3, SIZE, SIZE)
    assert quantized(x).shape == (1, NUM_CLASSES, SIZE, SIZE)
    assert set(tiny_model.state_dict()) == set(quantized.float_state_dict)
    report = lint_qdq(export_qdq_onnx(quantized, SIZE, tmp_path / "qat.onnx"))
    assert report.ok, report.format()
