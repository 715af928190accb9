"""The backend table: lazy imports, unknown names and missing libraries."""
from __future__ import annotations

import sys

import pytest

from edge.backends import BACKENDS, list_backends, open_runner, runner_class
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BackendUnavailable, ConfigError, UnknownNameError


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
