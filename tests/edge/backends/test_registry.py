"""The backend table: lazy imports, unknown names and missing libraries; the runner contract of several
named inputs and outputs, and a bundle's segmentation check."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.backends import BACKENDS, list_backends, open_runner, runner_class
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BackendUnavailable, BundleError, ConfigError, InputError, UnknownNameError


def test_every_entry_names_an_importable_runner_class():
    assert list_backends() == ["litert", "onnxruntime", "onnxruntime-qdq", "openvino", "tensorrt"]
    for name in BACKENDS:
        cls = runner_class(name)
        assert issubclass(cls, BaseRunner) and cls.backend == name


def test_unknown_backend_suggests_the_close_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'openvino'"):
        runner_class("openvin")


def test_missing_library_raises_backend_unavailable_with_install_hint(make_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    runner = open_runner(make_bundle())
    with pytest.raises(BackendUnavailable, match=r"'onnxruntime'.*pip install 'edgeparse\[ort\]'"):
        runner.activate()


def test_open_runner_takes_a_path_and_checks_arguments(make_bundle):
    path = make_bundle()
    assert open_runner(path).model_path.parent == path
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        open_runner(path, threads=0)
    with pytest.raises(ConfigError, match="unknown runner mode 'fast'"):
        open_runner(path, mode="fast")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if not runner_class(b).inference_precisions])
def test_a_backend_without_a_precision_setting_refuses_one(backend, tmp_path):
    """Asking onnxruntime, LiteRT or TensorRT to pin a precision is an error, not a silent no-op."""
    with pytest.raises(ConfigError, match=rf"backend '{backend}' cannot pin the inference precision 'f32'"):
        runner_class(backend)(tmp_path / "m", TensorSpec("input", (1, 3, 32, 32)), inference_precision="f32")


def test_a_bundle_asking_onnxruntime_for_a_precision_is_refused(make_bundle):
    with pytest.raises(ConfigError, match="cannot pin"):
        open_runner(make_bundle(inference_precision="f32"))


def test_a_pinnable_backend_still_refuses_a_precision_it_lacks(tmp_path):
    with pytest.raises(ConfigError, match="it can pin: f32, bf16"):
        runner_class("openvino")(tmp_path / "m", TensorSpec("input", (1, 3, 32, 32)),
                                 inference_precision="f16")


def _two_in_two_out(path: Path) -> Path:
    """sum = a + b (1, 2, 4), prod = a * b: a model no single-tensor contract could run."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    shape = [1, 2, 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])], "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("sum", "prod")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("backend", ["onnxruntime", "onnxruntime-qdq", "openvino"])
def test_several_named_inputs_and_outputs(backend, tmp_path):
    pytest.importorskip(BACKENDS[backend].library)
    path = _two_in_two_out(tmp_path / "two.onnx")
    a, b = np.full((1, 2, 4), 3, np.float32), np.arange(8, dtype=np.float32).reshape(1, 2, 4)
    inputs = [TensorSpec("b", (1, 2, 4)), TensorSpec("a", (1, 2, 4))]
    with runner_class(backend)(path, inputs, threads=1, outputs=["prod", "sum"]) as runner:
        result = runner.run({"a": a, "b": b})
        assert list(result) == ["prod", "sum"] and runner.applied_settings()["backend"] == backend
        np.testing.assert_array_equal(result["sum"], a + b)
        np.testing.assert_array_equal(result["prod"], a * b)
        with pytest.raises(InputError, match=r"expected inputs \['b', 'a'\], got \['a'\]"):
            runner.run({"a": a})
        with pytest.raises(InputError, match="input 'b': expected float32"):
            runner.run({"a": a, "b": b.astype(np.float64)})
    with runner_class(backend)(path, threads=1) as runner:  # nothing declared: the model's own tensors
        assert [s.name for s in runner.input_specs] == ["a", "b"] and runner.output_names == ("sum", "prod")
    with pytest.raises(BundleError, match=r"input\(s\) \['b'\] would get no data"):
        runner_class(backend)(path, TensorSpec("a", (1, 2, 4))).activate()


def test_a_bundle_must_give_its_schemas_logits(make_bundle, tiny, tmp_path):
    """The segmentation contract (one (1, C, H, W) output, C the schema's classes) is open_runner's check."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(tiny.reference))
    for init in model.graph.initializer:  # drop the last class from the convolution
        if init.name in ("w", "b"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init)[:-1], init.name))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = tiny.num_classes - 1
    onnx.save(model, str(tmp_path / "tiny_onnx_fp32.onnx"))
    runner = open_runner(make_bundle(tmp_path / "tiny_onnx_fp32.onnx"))
    with pytest.raises(BundleError, match=rf"output 'logits' is float32\[1, {tiny.num_classes - 1}, 32, 32\] in the "
                                          rf"model, not the declared float32\[1, {tiny.num_classes}, 32, 32\]"):
        runner.activate()
    assert not runner.is_active
