"""check_graph_hygiene flags each unhygienic pattern on tiny hand-built ONNX graphs (no torch)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edge.graph_checks import check_graph_hygiene

onnx = pytest.importorskip("onnx")
helper, numpy_helper, TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto


def _model(nodes, inputs=None, outputs=None, initializers=()):
    inputs = inputs or [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])]
    outputs = outputs or [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _relu():
    return helper.make_node("Relu", ["input"], ["logits"])


def test_clean_graph_has_no_problems():
    assert check_graph_hygiene(_model([_relu()])) == []


def test_grid_sample_is_flagged():
    grid = numpy_helper.from_array(np.zeros((1, 8, 8, 2), np.float32), "grid")
    node = helper.make_node("GridSample", ["input", "grid"], ["logits"])
    assert any("GridSample" in p for p in check_graph_hygiene(_model([node], initializers=[grid])))


@pytest.mark.parametrize("mode, flagged", [("align_corners", True), ("half_pixel", False)])
def test_resize_align_corners_is_flagged(mode, flagged):
    sizes = numpy_helper.from_array(np.array([1, 3, 16, 16], np.int64), "sizes")
    node = helper.make_node("Resize", ["input", "", "", "sizes"], ["logits"], mode="linear",
                            coordinate_transformation_mode=mode)
    problems = check_graph_hygiene(_model([node], initializers=[sizes]))
    assert bool(problems) == flagged and all("align_corners" in p for p in problems)


def test_aten_adaptive_pool_fallback_is_flagged():
    node = helper.make_node("ATen", ["input"], ["logits"], operator="adaptive_avg_pool2d")
    assert any("adaptive_avg_pool2d" in p for p in check_graph_hygiene(_model([node])))


@pytest.mark.parametrize("as_constant_node", [False, True])
def test_pad_with_minus_inf_is_flagged(as_constant_node):
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    value = np.array(-np.inf, np.float32)
    pad = helper.make_node("Pad", ["input", "pads", "value"], ["logits"])
    if as_constant_node:
        nodes = [helper.make_node("Constant", [], ["value"], value=numpy_helper.from_array(value)), pad]
        model = _model(nodes, initializers=[pads])
    else:
        model = _model([pad], initializers=[pads, numpy_helper.from_array(value, "value")])
    assert any("-inf" in p for p in check_graph_hygiene(model))


def test_zero_pad_is_fine():
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    value = numpy_helper.from_array(np.array(0.0, np.float32), "value")
    pad = helper.make_node("Pad", ["input", "pads", "value"], ["logits"])
    assert check_graph_hygiene(_model([pad], initializers=[pads, value])) == []


def test_padded_maxpool_is_flagged_but_unpadded_is_fine():
    padded = helper.make_node("MaxPool", ["input"], ["logits"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1])
    plain = helper.make_node("MaxPool", ["input"], ["logits"], kernel_shape=[3, 3], strides=[2, 2])
    assert any("MaxPool" in p for p in check_graph_hygiene(_model([padded])))
    assert check_graph_hygiene(_model([plain])) == []


def test_more_than_one_output_is_flagged():
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("logits", "aux")]
    nodes = [_relu(), helper.make_node("Relu", ["input"], ["aux"])]
    assert any("2 outputs" in p for p in check_graph_hygiene(_model(nodes, outputs=outputs)))


def test_dynamic_input_is_flagged_unless_requested():
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])]
    model = _model([_relu()], inputs=inputs)
    assert any("dynamic shape" in p for p in check_graph_hygiene(model))
    assert check_graph_hygiene(model, dynamic_axes=True) == []


def test_accepts_a_path(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model([_relu()]), path)
    assert check_graph_hygiene(path) == []


def test_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None\nimport edge.graph_checks\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
