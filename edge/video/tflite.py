"""The MediaPipe ``.tflite`` files that ship inside edgeparse (``edge/video/models/``), checked and run.

Each file is pinned by its sha256 (a cut or changed file would otherwise fail inside the interpreter
with an unrelated message) and run by the registry's runners (``edge.backends``): LiteRT, or OpenVINO's
TFLite frontend with f32 pinned when LiteRT is not installed. Callers name the output tensors they
read, so a file whose outputs differ is refused.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.backends.base import BaseRunner
from edge.errors import BackendUnavailable
from edge.io import sha256_mismatch

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).with_name("models")
INSTALL_HINT = "reinstall edgeparse (pip install --force-reinstall --no-deps .), which ships it in edge/video/models/"

InvokeFn = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def verified_model(path: Path, sha256: str, what: str) -> Path:
    """``path`` when it exists and has the expected sha256; ``BackendUnavailable`` (with the
    reinstall hint) otherwise."""
    if not path.is_file():
        raise BackendUnavailable(f"{what} model {path} is missing: {INSTALL_HINT}")
    mismatch = sha256_mismatch(path, sha256)
    if mismatch:
        raise BackendUnavailable(f"{what} model {mismatch}: {INSTALL_HINT}")
    return path


def load_tflite(path: Path, threads: int, outputs: tuple[str, ...], what: str = "the model") -> tuple[InvokeFn, str]:
    """A ``(x) -> outputs`` function (float32 arrays, in the order of ``outputs``) and the backend
    that runs it: ``litert``, else ``openvino`` (its TFLite frontend)."""
    from edge.backends import BACKENDS, runner_class

    try:
        return _invoke(_activated(runner_class("litert")(path, threads=threads, outputs=outputs)), outputs), "litert"
    except BackendUnavailable as litert_missing:
        log.debug("LiteRT cannot run %s here (%s); trying OpenVINO's TFLite frontend", path.name, litert_missing)
    # f32 pinned: OpenVINO's default on AVX512-BF16/AMX CPUs is bf16, which would move results per CPU.
    openvino = runner_class("openvino")(path, threads=threads, inference_precision="f32", outputs=outputs)
    try:
        return _invoke(_activated(openvino), outputs), "openvino"
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{what} needs a TFLite interpreter: {BACKENDS['litert'].install} "
                                 f"(or {BACKENDS['openvino'].install})") from exc


def _activated(runner: BaseRunner) -> BaseRunner:
    runner.activate()
    return runner


def _invoke(runner: BaseRunner, outputs: tuple[str, ...]) -> InvokeFn:
    name = runner.input_spec.name

    def invoke(x: np.ndarray) -> tuple[np.ndarray, ...]:
        result = runner.run({name: np.ascontiguousarray(x, np.float32)})
        return tuple(result[output] for output in outputs)
    return invoke
