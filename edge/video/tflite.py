"""The MediaPipe ``.tflite`` files that ship inside edgeparse (``edge/video/models/``), checked and run.

Each file is pinned by its sha256 (a cut or changed file would otherwise fail inside the interpreter
with an unrelated message) and run on LiteRT, or on OpenVINO's TFLite frontend when LiteRT is not
installed. Callers name the output tensors they read, so a file whose outputs differ is refused.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.errors import BackendUnavailable, DataError
from edge.io import file_sha256

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).with_name("models")
INSTALL_HINT = "reinstall edgeparse (pip install --force-reinstall --no-deps .), which ships it in edge/video/models/"

InvokeFn = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def verified_model(path: Path, sha256: str, what: str) -> Path:
    """``path`` when it exists and has the expected sha256; ``BackendUnavailable`` (with the
    reinstall hint) otherwise."""
    if not path.is_file():
        raise BackendUnavailable(f"{what} model {path} is missing: {INSTALL_HINT}")
    digest = file_sha256(path)
    if digest != sha256:
        raise BackendUnavailable(f"{what} model {path} is truncated or modified (sha256 {digest[:12]}… != "
                                 f"{sha256[:12]}…): {INSTALL_HINT}")
    return path


def load_tflite(path: Path, threads: int, outputs: tuple[str, ...], what: str = "the model") -> tuple[InvokeFn, str]:
    """A ``(x) -> outputs`` function (float32 arrays, in the order of ``outputs``) and the runtime
    that runs it: ``litert``, else ``openvino``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        log.debug("ai_edge_litert not installed; trying OpenVINO's TFLite frontend")
    else:
        return _litert_invoke(Interpreter(model_path=str(path), num_threads=threads), outputs, path), "litert"
    from edge.backends import import_library  # imports OpenVINO with its telemetry opted out

    try:
        ov = import_library("openvino")
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{what} needs a TFLite interpreter: pip install ai-edge-litert==2.3.0 "
                                 "(or openvino==2026.4.1)") from exc
    core = ov.Core()
    # f32 pinned: OpenVINO's default on AVX512-BF16/AMX CPUs is bf16, which would move results per CPU.
    compiled = core.compile_model(core.read_model(str(path)), "CPU",
                                  {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
    ports = [compiled.output(name) for name in outputs]

    def invoke(x: np.ndarray) -> tuple[np.ndarray, ...]:
        result = compiled(x)
        return tuple(result[port] for port in ports)
    return invoke, "openvino"


def _litert_invoke(interpreter, outputs: tuple[str, ...], path: Path) -> InvokeFn:
    interpreter.allocate_tensors()
    found = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    if not set(outputs) <= set(found):
        raise DataError(f"{path.name}: unexpected outputs {sorted(found)}: expected {', '.join(outputs)}")
    indices = [found[name] for name in outputs]
    input_index = interpreter.get_input_details()[0]["index"]

    def invoke(x: np.ndarray) -> tuple[np.ndarray, ...]:
        interpreter.set_tensor(input_index, np.ascontiguousarray(x, np.float32))
        interpreter.invoke()
        return tuple(interpreter.get_tensor(index) for index in indices)
    return invoke
