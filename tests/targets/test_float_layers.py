"""Layer names from torch module paths to each backend's names, and dropping Q/DQ pairs in a QDQ ONNX."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edge.errors import ExportError
from targets.float_layers import (
    compute_modules,
    keep_float,
    module_for_node,
    onnx_nodes_for,
    openvino_names,
    qdq_nodes_for,
    unqualified,
)


def _node(name: str, op_type: str = "Conv", inputs: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(name=name, op_type=op_type, input=list(inputs))


def test_scopes_follow_the_legacy_exporters_unqualified_names():
    assert unqualified("backbone.features.1.conv.0.0") == "conv.0.0"
    assert unqualified("head.classifier") == "classifier" and unqualified("0.1") == "0.1"
    nodes = [_node("/backbone/features.1/conv/conv.0/conv.0.0/Conv"), _node("/classifier/Conv"),
             _node("/edge_classifier/Conv"), _node("/backbone/features.1/conv/conv.0/conv.0.2/Clip", "Clip")]
    found = onnx_nodes_for(nodes, ["backbone.features.1.conv.0.0", "head.classifier", "head.edge_classifier"])
    assert found == {"backbone.features.1.conv.0.0": "/backbone/features.1/conv/conv.0/conv.0.0/Conv",
                     "head.classifier": "/classifier/Conv", "head.edge_classifier": "/edge_classifier/Conv"}
    assert module_for_node("/classifier/Conv", ["head.classifier", "head.edge_classifier"]) == "head.classifier"


def test_a_layer_without_a_node_or_with_an_ambiguous_one_is_an_error():
    with pytest.raises(ExportError, match="matches no node"):
        onnx_nodes_for([_node("/a/conv/Conv")], ["head.missing"])
    # where a parent was not a scope, the node with more of the module's ancestors wins; a tie is an error
    assert onnx_nodes_for([_node("/conv/Conv"), _node("/x/conv/Conv")], ["x.conv"]) == {"x.conv": "/x/conv/Conv"}
    with pytest.raises(ExportError, match="matches 2 nodes"):
        onnx_nodes_for([_node("/a/conv/Conv"), _node("/b/conv/Conv")], ["a.b.conv"])


def test_qdq_nodes_are_found_by_their_bias_name():
    nodes = [_node("node_conv2d", inputs=("x", "w", "backbone.features.0.0.weight_bias")),
             _node("node_conv2d_9", inputs=("y", "w2", "head.classifier.bias")),
             _node("node_add", "Add", ("a", "b", "head.classifier.bias"))]
    assert qdq_nodes_for(nodes, ["head.classifier", "backbone.features.0.0"]) == {
        "head.classifier": "node_conv2d_9", "backbone.features.0.0": "node_conv2d"}
    with pytest.raises(ExportError, match=r"layers \['neck.x'\] have no node in the QDQ ONNX"):
        qdq_nodes_for(nodes, ["neck.x"])


def _qdq_conv_model():
    """input -> Q -> DQ -> Conv(weight: int8 -> DQ per channel) -> logits, and the float weight it means."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    q_weight = rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    w_scale = np.array([0.01, 0.02, 0.005, 0.03], np.float32)
    nodes = [helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"], name="q0"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], name="dq0"),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="dqw", axis=0),
             helper.make_node("Conv", ["dq", "w", "conv.bias"], ["logits"], name="node_conv2d", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, 8, 8])],
        initializer=[numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                     numpy_helper.from_array(np.array(0, np.int8), "z"),
                     numpy_helper.from_array(q_weight, "wq"), numpy_helper.from_array(w_scale, "ws"),
                     numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
                     numpy_helper.from_array(np.zeros(4, np.float32), "conv.bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the runtimes here read
    onnx.checker.check_model(model)
    return model, q_weight.astype(np.float32) * w_scale[:, None, None, None]


def _run(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_keep_float_feeds_the_layer_the_float_activation_and_the_dequantized_weight():
    pytest.importorskip("onnx_graphsurgeon")
    from onnx import helper, numpy_helper

    model, weight = _qdq_conv_model()
    x = np.random.default_rng(1).normal(0, 3, (1, 3, 8, 8)).astype(np.float32)  # beyond the int8 range 6.35
    edited, changed = keep_float(model, ["node_conv2d"])
    assert changed == 2 and {n.op_type for n in edited.graph.node} == {"Conv"}  # the unused Q/DQ are gone
    reference = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["logits"], pads=[1, 1, 1, 1])], "float",
        list(model.graph.input), list(model.graph.output),
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(4, np.float32), "b")]),
        opset_imports=[helper.make_opsetid("", 17)])
    reference.ir_version = 8
    np.testing.assert_allclose(_run(edited, x), _run(reference, x), rtol=1e-5, atol=1e-5)
    assert np.abs(_run(model, x) - _run(reference, x)).max() > 0.1  # the int8 input clipped
    with pytest.raises(ExportError, match="float already"):
        keep_float(edited, ["node_conv2d"])
    with pytest.raises(ExportError, match="no nodes"):
        keep_float(model, ["node_conv2d_404"])


def test_every_conv_of_the_tiny_student_maps_to_one_onnx_node_and_one_openvino_op(deploy_inputs):
    """On a real export: the eval graph's convolutions map one to one; only training heads have no node."""
    import onnx

    ov = pytest.importorskip("openvino")
    nodes = onnx.load(str(deploy_inputs.onnx_path)).graph.node
    modules = compute_modules(deploy_inputs.model)
    mapped = {}
    for module in modules:
        try:
            mapped.update(onnx_nodes_for(nodes, [module]))
        except ExportError:
            assert module in ("head.edge_classifier", "head.aux_classifier"), module
    assert sorted(mapped.values()) == sorted(n.name for n in nodes if n.op_type == "Conv")
    assert all(module_for_node(node, modules) == module for module, node in mapped.items())
    friendly = openvino_names(ov.convert_model(str(deploy_inputs.onnx_path)), mapped.values())
    assert len(set(friendly)) == len(mapped) and friendly[0].startswith("/backbone/")
