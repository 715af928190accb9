"""The FP32 ONNX every target starts from, and the per-target graph checks run before lowering."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper
from torch import nn

from edge.errors import ExportError
from edge.graph_checks import check_graph_hygiene
from targets import load_target
from targets.export import check_export_parity, check_target_graph, export_onnx, target_graph_problems


def test_exported_student_is_static_single_output_and_hygienic(deploy_inputs, kit):
    model = onnx.load(str(deploy_inputs.onnx_path))
    assert check_graph_hygiene(model) == []
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, kit.size, kit.size]
    assert model.opset_import[0].version == 17


@pytest.mark.parametrize("target", ["onnx", "cpu", "mobile"])
def test_the_student_passes_every_target_graph_check(deploy_inputs, target):
    check_target_graph(deploy_inputs.onnx_path, target, load_target(target).GRAPH_RULES)


def test_export_matches_torch(deploy_inputs, kit):
    x = np.random.default_rng(0).normal(size=(1, 3, kit.size, kit.size)).astype(np.float32)
    assert check_export_parity(deploy_inputs.model, deploy_inputs.onnx_path, x) < 1e-3


def test_export_parity_catches_a_changed_model(deploy_inputs, kit):
    """The check compares against the model given: a model with one corrupted weight must fail it."""
    import copy

    broken = copy.deepcopy(deploy_inputs.model)
    head = [m for m in broken.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        head.bias += 5.0 * torch.arange(head.out_channels, dtype=torch.float32)
    x = np.zeros((1, 3, kit.size, kit.size), np.float32)
    with pytest.raises(ExportError, match="differs from the torch model"):
        check_export_parity(broken, deploy_inputs.onnx_path, x)


class _AlignCornersNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return F.interpolate(self.conv(x), scale_factor=2.0, mode="bilinear", align_corners=True)


def test_export_rejects_a_graph_that_breaks_hygiene(tmp_path):
    with pytest.raises(ExportError, match="align_corners"):
        export_onnx(_AlignCornersNet(), 32, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def _graph(op: str, dims: list, **attrs) -> onnx.ModelProto:
    """input → <op> → logits, plus an optional second output."""
    node = helper.make_node(op, ["input"], ["logits"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_forbidden_op_is_named_for_the_target_that_lacks_it():
    model = _graph("Erf", [1, 3, 8, 8])
    assert target_graph_problems(model, load_target("cpu").GRAPH_RULES) == []
    with pytest.raises(ExportError, match=r"cannot be lowered to mobile: unsupported ops \['Erf'\]"):
        check_target_graph(model, "mobile", load_target("mobile").GRAPH_RULES)


def test_static_shapes_are_required_only_where_the_target_needs_them():
    model = _graph("Relu", ["N", 3, 8, 8])
    problems = target_graph_problems(model, load_target("mobile").GRAPH_RULES)
    assert len(problems) == 2 and all("dynamic shape" in p for p in problems)
    assert target_graph_problems(model, load_target("onnx").GRAPH_RULES) == []


def test_cubic_resize_and_a_second_output_are_reported():
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    nodes = [helper.make_node("Resize", ["input", "", "scales"], ["logits"], mode="cubic"),
             helper.make_node("Relu", ["input"], ["aux"])]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "g", [value("input", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [value("logits", TensorProto.FLOAT, [1, 3, 8, 8]),
                               value("aux", TensorProto.FLOAT, [1, 3, 4, 4])], initializer=[scales])
    problems = target_graph_problems(helper.make_model(graph), load_target("mobile").GRAPH_RULES)
    assert any("mode 'cubic'" in p for p in problems)
    assert any("2 outputs" in p for p in problems)
