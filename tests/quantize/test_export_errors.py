"""Only "this model cannot be exported" becomes an ExportError (an ``export_failed`` row in deploy);
a bug in the model or in our code propagates as itself, so it is fixed instead of tabulated."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from edge.errors import ExportError
from quantize.export_qdq import export_qdq_onnx
from quantize.graph import export_for_quantization

from .conftest import SIZE, make_tiny


class DataDependent(nn.Module):
    """Python control flow on a tensor value: torch.export cannot capture it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


class SpecialisesTheBatch(nn.Module):
    """Hard-codes batch 2: the dynamic batch dimension the quantizer asks for is violated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(2, -1)


class Buggy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.no_such_method()


@pytest.mark.parametrize("model", [DataDependent(), SpecialisesTheBatch()], ids=type)
def test_a_model_torch_export_cannot_capture_is_an_export_error(model: nn.Module) -> None:
    with pytest.raises(ExportError, match=f"torch.export failed on {type(model).__name__}"):
        export_for_quantization(model, SIZE, train=False)


def test_a_bug_in_the_model_is_not_an_export_error() -> None:
    with pytest.raises(AttributeError, match="no_such_method"):
        export_for_quantization(Buggy(), SIZE, train=False)


def test_only_the_exporters_own_errors_become_export_errors(monkeypatch, tmp_path) -> None:
    graph = export_for_quantization(make_tiny(), SIZE, train=False)

    def refuse(*args, **kwargs):
        raise torch.onnx.errors.OnnxExporterError("no converter for aten::mystery")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(ExportError, match="QDQ ONNX export failed: OnnxExporterError: no converter"):
        export_qdq_onnx(graph, SIZE, tmp_path / "model.onnx")

    def crash(*args, **kwargs):
        raise TypeError("export() got an unexpected keyword argument")

    monkeypatch.setattr(torch.onnx, "export", crash)
    with pytest.raises(TypeError, match="unexpected keyword"):
        export_qdq_onnx(graph, SIZE, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []  # nothing half-written either way
