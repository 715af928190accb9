"""Every registered student model honours the project's model contract (SMP-style base tester).

Parametrized over ``list_models()``, so a newly registered model is tested without edits. The
teachers are left out: they are never exported and accept any input size by design; their own
contract is tested in ``tests/training/models/teachers``. Tiny inputs (64²–128²), 5 classes.
"""
from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
import pytest
import torch

from edge.errors import InputError
from edge.graph_checks import check_graph_hygiene
from training.models import SegOutputs, create_model, list_models
from training.models.teachers import is_teacher

NUM_CLASSES = 5
# BiSeNet (the peer reference) predicts at 1/8 as in its paper and has no boundary head; EHANet at 1/4 with one.
HEAD_STRIDE = {"bisenet_r18": 8}
WITHOUT_EDGE_HEAD = {"bisenet_r18"}


@pytest.fixture(scope="module", params=[name for name in list_models() if not is_teacher(name)])
def model(request) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(request.param, num_classes=NUM_CLASSES).eval()
    model.registered_name = request.param
    return model


def _image(h: int = 64, w: int = 64, n: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(1))


class TestModelContract:
    def test_eval_forward_returns_one_tensor_at_input_size(self, model):
        with torch.no_grad():
            out = model(_image(64, 96, n=2))
        assert isinstance(out, torch.Tensor)
        assert out.shape == (2, NUM_CLASSES, 64, 96)
        assert torch.isfinite(out).all()

    def test_eval_forward_is_upsampled_final_logits_of_forward_train(self, model):
        x = _image()
        with torch.no_grad():
            train_out = model.forward_train(x)
            out = model(x)
        upsampled = torch.nn.functional.interpolate(train_out.logits, size=(64, 64), mode="bilinear",
                                                    align_corners=False)
        torch.testing.assert_close(out, upsampled)

    def test_forward_train_outputs_at_the_head_resolution(self, model):
        with torch.no_grad():
            out = model.forward_train(_image(64, 128, n=2))
        stride = HEAD_STRIDE.get(model.registered_name, 4)
        h, w = 64 // stride, 128 // stride
        assert isinstance(out, SegOutputs)
        assert out.logits.shape == (2, NUM_CLASSES, h, w)
        assert out.aux_logits.shape == (2, NUM_CLASSES, h, w)
        if model.registered_name in WITHOUT_EDGE_HEAD:
            assert out.edge_logits is None
        else:
            assert out.edge_logits.shape == (2, 2, h, w)
        assert out.features.shape == (2, model.neck.out_channels, h, w)

    def test_forward_features_are_the_training_features(self, model):
        x = _image()
        with torch.no_grad():
            torch.testing.assert_close(model.forward_features(x), model.forward_train(x).features)

    def test_backward_reaches_every_parameter(self, model):
        model.train()
        try:
            out = model.forward_train(_image(64, 64, n=2))
            heads = [getattr(out, f.name) for f in dataclasses.fields(out) if f.name != "features"]
            loss = sum(head.mean() for head in heads if head is not None)
            model.zero_grad()
            loss.backward()
        finally:
            model.eval()
        no_grad = [n for n, p in model.named_parameters() if p.grad is None]
        assert not no_grad, f"parameters without gradient: {no_grad[:5]}"

    def test_train_mode_forward_still_returns_upsampled_logits(self, model):
        model.train()
        try:
            out = model(_image(64, 64, n=2))
        finally:
            model.eval()
        assert out.shape == (2, NUM_CLASSES, 64, 64)

    def test_input_not_multiple_of_stride_names_the_padded_size(self, model):
        with pytest.raises(InputError, match="multiple of 32; pad or resize it to 96x64"):
            model(_image(70, 64))

    def test_torch_export_matches_eager(self, model):
        x = _image()
        exported = torch.export.export(model, (x,))
        with torch.no_grad():
            torch.testing.assert_close(exported.module()(x), model(x))

    def test_onnx_export_is_hygienic_and_matches_eager(self, model):
        ort = pytest.importorskip("onnxruntime")
        onnx = pytest.importorskip("onnx")
        x = _image(128, 128)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["logits"])
        onnx_model = onnx.load_from_string(buffer.getvalue())
        assert check_graph_hygiene(onnx_model) == []
        session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        (onnx_out,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_out, model(x).numpy(), atol=1e-4, rtol=1e-3)
