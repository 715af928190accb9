"""PTQ: converted graphs, the QDQ ONNX in onnxruntime, mixed precision, and loud failures."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edge.errors import InputError, UnsupportedError
from quantize.graph import compute_nodes
from quantize.ptq import ptq

from .conftest import SIZE, MatmulNet

DEQUANTIZE_PER_CHANNEL = torch.ops.quantized_decomposed.dequantize_per_channel.default


def _ort(path, optimized: bool):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    if not optimized:  # plain QDQ semantics, no integer kernel fusion
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_qdq_onnx_has_the_deploy_contract(qdq_onnx):
    model = onnx.load(str(qdq_onnx))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("input", "logits")
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, SIZE, SIZE]
    assert next(o.version for o in model.opset_import if o.domain == "") >= 13
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops and "BatchNormalization" not in ops


def test_qdq_onnx_in_onnxruntime_agrees_with_the_torch_quantized_model(ptq_tensorrt, qdq_onnx):
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    expected = ptq_tensorrt(x).detach().numpy()
    exact = _ort(qdq_onnx, optimized=False).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(exact, expected, atol=1e-4)  # same QDQ arithmetic
    fused = _ort(qdq_onnx, optimized=True).run(None, {"input": x.numpy()})[0]
    # ORT's integer kernels requantize differently; the decisions must still agree.
    assert (fused.argmax(1) == expected.argmax(1)).mean() > 0.97


def test_exact_qdq_scoring_reproduces_the_torch_quantized_decisions(ptq_tensorrt, qdq_onnx, calib):
    from edge.schemas import LabelSchema
    from quantize.evaluate import EvalSet, score_onnx

    images = [x[None].numpy() for x in torch.cat(calib)]
    labels = [ptq_tensorrt(torch.from_numpy(x)).argmax(1)[0].numpy().astype(np.uint8) for x in images]
    # The tiny net's 4 classes: the scorer holds the model to the schema's (1, C, H, W) logits.
    schema = LabelSchema("tiny4", ("a", "b", "c", "d"), ((0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)), ())
    matrix = score_onnx(qdq_onnx, EvalSet(images, labels, schema), "onnxruntime-qdq")
    assert matrix.pixel_accuracy() > 0.999


@pytest.mark.parametrize("observer", ["minmax", "histogram", "percentile"])
def test_every_observer_gives_an_int8_graph_close_to_float(tiny_model, calib, make_cfg, observer):
    quantized = ptq(tiny_model, calib, make_cfg(observer=observer))
    x = calib[0]
    reference = tiny_model(x)
    error = (quantized(x) - reference).abs().max() / reference.abs().max()
    assert error < 0.1
    assert quantized.method == "ptq" and quantized.float_layers == ()


def test_float_layers_keep_their_conv_weights_float(tiny_model, calib, make_cfg, tmp_path):
    from quantize.export_qdq import export_qdq_onnx

    quantized = ptq(tiny_model, calib, make_cfg(), float_layers=("head",))
    assert quantized.float_layers == ("head",)
    weight_of = {n.meta["nn_module_stack"][list(n.meta["nn_module_stack"])[-1]][0]: n.args[1]
                 for n in compute_nodes(quantized.graph_module)}
    assert weight_of["head"].op == "get_attr"  # float weight, no DequantizeLinear
    assert all(w.target == DEQUANTIZE_PER_CHANNEL for layer, w in weight_of.items() if layer != "head")
    model = onnx.load(str(export_qdq_onnx(quantized, SIZE, tmp_path / "mixed.onnx")))
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    weight_sources = [producers.get(n.input[1], "initializer") for n in model.graph.node if n.op_type == "Conv"]
    assert sorted(weight_sources) == ["DequantizeLinear"] * 4 + ["initializer"]


def test_op_the_quantizer_cannot_handle_fails_naming_the_node(calib, make_cfg):
    with pytest.raises(UnsupportedError, match=r"matmul.*would\s+silently run in float"):
        ptq(MatmulNet().eval(), calib, make_cfg())


def test_unsupported_op_can_be_kept_float_on_purpose(calib, make_cfg):
    model = MatmulNet().eval()
    matmuls = ("matmul", "matmul_1")  # graph node names
    quantized = ptq(model, calib, make_cfg(), float_layers=matmuls)
    assert quantized.float_layers == matmuls


def test_calibration_at_another_resolution_is_refused(tiny_model, make_cfg):
    with pytest.raises(InputError, match="deployment resolution"):
        ptq(tiny_model, [torch.randn(2, 3, SIZE * 2, SIZE * 2)], make_cfg())
