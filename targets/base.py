"""What a target's ``lower`` receives and returns (see ``targets/__init__.py``)."""
from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from targets.config import DeployCfg

if TYPE_CHECKING:
    from torch import nn

# Distributions whose versions go into every manifest (those not installed are left out).
TOOL_DISTRIBUTIONS = ("torch", "onnx", "onnxslim", "onnxruntime", "openvino", "nncf", "torchao", "litert-torch",
                      "ai-edge-litert", "ai-edge-quantizer", "numpy")


@dataclass(frozen=True)
class LowerRequest:
    """One (target, precision) to build.

    ``onnx_path`` is the checked static FP32 ONNX (1x3xSxS ``input`` -> ``logits``); ``model`` the
    FP32 torch model in eval mode (LiteRT lowers from torch); ``calibration()`` returns the
    normalised (1, 3, S, S) float32 calibration images (loaded on first call, shared by all jobs);
    ``work_dir`` is scratch space of this deploy run, shared by the jobs so that a target can
    reuse an intermediate file (e.g. the FP32 .tflite for FP16); ``stem`` names the artifacts.
    ``float_layers`` (int8 only) are torch module paths the mixed-precision fallback keeps float
    (``targets.fallback``); each target translates them to its own names (``targets.float_layers``).
    """

    target: str
    precision: str
    onnx_path: Path
    model: nn.Module
    calibration: Callable[[], list[np.ndarray]]
    checkpoint: Path
    work_dir: Path
    stem: str
    cfg: DeployCfg
    float_layers: tuple[str, ...] = ()

    @property
    def input_size(self) -> int:
        return self.cfg.input_size

    def artifact(self, suffix: str) -> Path:
        """``<work_dir>/<model>_<target>_<precision><suffix>``."""
        return self.work_dir / f"{self.stem}{suffix}"


@dataclass(frozen=True)
class Lowered:
    """Built files (the one the backend loads first) and what the manifest records about them."""

    artifacts: list[Path]
    backend_version: str
    quantization: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_versions() -> dict[str, str]:
    """Versions of the conversion tools installed here, for the manifest."""
    versions = {name: package_version(name) for name in TOOL_DISTRIBUTIONS}
    return {name: v for name, v in versions.items() if v != "not installed"}
