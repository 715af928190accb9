"""The TensorRT QDQ lint: accepts the symmetric export, names the tensor of every violation."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.errors import ExportError
from quantize.qdq_lint import lint_model, lint_qdq


def qdq_conv_model(act_zero_point: int = 0, weight_axis: int = 0, act_scales: int = 1, extra_op: str | None = None,
                   opset: int = 18, weight_zero_point: bool = True) -> onnx.ModelProto:
    """input → Q/DQ (activation) → Conv(DQ(int8 weight)) → [extra op] → logits."""
    weight = np.arange(4 * 3 * 3 * 3, dtype=np.int8).reshape(4, 3, 3, 3) % 7
    inits = [
        numpy_helper.from_array(np.full(act_scales, 0.02, np.float32).reshape(-1 if act_scales > 1 else ()),
                                "act_scale"),
        numpy_helper.from_array(np.full(act_scales, act_zero_point, np.int8).reshape(-1 if act_scales > 1 else ()),
                                "act_zp"),
        numpy_helper.from_array(weight, "conv_w_int8"),
        numpy_helper.from_array(np.full(4, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zp"),
    ]
    w_inputs = ["conv_w_int8", "w_scale", "w_zp"] if weight_zero_point else ["conv_w_int8", "w_scale"]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "act_scale", "act_zp"], ["x_q"], name="q_in", axis=1),
        helper.make_node("DequantizeLinear", ["x_q", "act_scale", "act_zp"], ["x_dq"], name="dq_in", axis=1),
        helper.make_node("DequantizeLinear", w_inputs, ["w_dq"], name="dq_w", axis=weight_axis),
        helper.make_node("Conv", ["x_dq", "w_dq"], ["conv_out" if extra_op else "logits"], name="conv", pads=[1] * 4),
    ]
    if extra_op:
        nodes.append(helper.make_node(extra_op, ["conv_out"], ["logits"], name="odd_op"))
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_accepts_the_symmetric_ptq_export(qdq_onnx):
    report = lint_qdq(qdq_onnx)
    assert report.ok, report.format()
    assert report.quantize_nodes > 0 and report.dequantize_nodes > report.quantize_nodes
    assert "OK for TensorRT" in report.format()


def test_accepts_the_hand_built_reference_graph():
    assert lint_model(qdq_conv_model()).ok


def test_rejects_a_planted_asymmetric_model_naming_the_tensor():
    report = lint_model(qdq_conv_model(act_zero_point=3))
    assert not report.ok
    finding = report.findings[0]
    assert finding.rule == "zero_point" and finding.tensor == "input"
    assert "'input'" in finding.message and "is 3" in finding.message and "needs 0" in finding.message


def test_rejects_a_nonzero_zero_point_planted_in_the_real_export(qdq_onnx, tmp_path):
    model = onnx.load(str(qdq_onnx))
    q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    zp = next(i for i in model.graph.initializer if i.name == q.input[2])
    zp.CopyFrom(numpy_helper.from_array(np.array(5, np.int8), zp.name))
    planted = tmp_path / "asymmetric.onnx"
    onnx.save(model, str(planted))
    report = lint_qdq(planted)
    assert not report.ok
    assert any(f.rule == "zero_point" and f.tensor == q.input[0] and f"'{q.input[0]}'" in f.message
               for f in report.findings)


def test_rejects_per_channel_weights_on_the_wrong_axis():
    report = lint_model(qdq_conv_model(weight_axis=1))
    assert [f.rule for f in report.findings] == ["per_channel_axis"]
    assert "'conv_w_int8'" in report.findings[0].message and "axis 1" in report.findings[0].message


def test_rejects_per_channel_activations():
    report = lint_model(qdq_conv_model(act_scales=3))
    assert {f.rule for f in report.findings} == {"per_channel_activation"}


def test_rejects_an_op_tensorrt_does_not_support():
    report = lint_model(qdq_conv_model(extra_op="NonMaxSuppression"))
    (finding,) = report.findings
    assert finding.rule == "op" and finding.node == "odd_op" and "NonMaxSuppression" in finding.message


def test_rejects_uint8_default_zero_point_and_old_opset():
    rules = {f.rule for f in lint_model(qdq_conv_model(weight_zero_point=False, opset=12)).findings}
    assert rules == {"int8", "opset"}


def test_rejects_a_float_model_without_qdq():
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["logits"], name="relu")], "f",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1])])
    report = lint_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    assert [f.rule for f in report.findings] == ["no_qdq"]


def test_unreadable_file_raises_export_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ExportError, match="bad.onnx.*DecodeError"):
        lint_qdq(bad)
    with pytest.raises(ExportError, match="missing.onnx.*FileNotFoundError"):
        lint_qdq(tmp_path / "missing.onnx")


def test_lint_runs_without_torch(tmp_path):
    """The Jetson host has onnx but no torch: the lint must not import it, even indirectly."""
    path = tmp_path / "ok.onnx"
    onnx.save(qdq_conv_model(), str(path))
    code = ("import sys; sys.modules['torch'] = None\n"
            "from quantize.qdq_lint import lint_qdq\n"
            f"assert lint_qdq({str(path)!r}).ok\n"
            "assert sys.modules['torch'] is None\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
