"""Suite-wide settings and the fixtures more than one test folder uses.

One OpenMP thread per process: tests are tiny, and several torch processes (torchrun tests,
data workers) sharing 2 cores with busy-waiting OpenMP pools run 5-50x slower.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

# No network in tests: edgeparse opts out of OpenVINO's/NNCF's telemetry before it imports them, and some
# tests import openvino themselves, so opt out for the whole session before any of them runs (after
# OMP_NUM_THREADS: this imports numpy).
import numpy as np

from edge.backends import opt_out_of_telemetry
from edge.bundle import ParityThresholds, ValidationSet, write_bundle
from edge.preprocess import Normalization, argmax_labels, normalize
from edge.schemas import IGNORE_INDEX, LabelSchema

opt_out_of_telemetry()

REPO = Path(__file__).resolve().parents[1]

# Prepended to a snippet: any import of torch (direct or from a dependency) raises ImportError.
BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked on the device side (import of {name!r})")

    sys.meta_path.insert(0, BlockTorch())
""")


@pytest.fixture(scope="session")
def run_without_torch() -> Callable[..., subprocess.CompletedProcess]:
    """``run(code, *argv)``: the Python snippet in a fresh interpreter at the repo root, torch blocked."""
    def run(code: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code), *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
    return run


@pytest.fixture
def tiny_lapa_checkpoint(tmp_path: Path) -> Path:
    """An untrained EHANet-MBV2 checkpoint whose recipe is 2 synthetic LaPa val faces at 64²."""
    import torch

    from edge.config import to_dict
    from edge.schemas import get_schema
    from training.checkpoint import save_checkpoint
    from training.config import load_recipe
    from training.models import create_model

    torch.manual_seed(0)
    schema = get_schema("lapa")
    recipe = load_recipe(None, ["model.name=ehanet_mbv2", "model.overrides={}", "data.size=64",
                                "data.synthetic_val=2", "data.workers=0", "train.batch_size=2"])
    path = tmp_path / "student.pt"
    save_checkpoint({"model_name": "ehanet_mbv2", "model_overrides": {}, "num_classes": schema.num_classes,
                     "schema": schema.to_dict(), "config": to_dict(recipe),
                     "state_dict": create_model("ehanet_mbv2", num_classes=schema.num_classes).state_dict()}, path)
    return path


# --- Tiny torch-free deploy fixtures (tests/edge, tests/robustness) ------------------------------
# ONNX models built with onnx.helper and a validation set.
#
# The model is Conv(3→6, 3×3, stride 2) + Resize ×2 at 32×32. Class 4 ("earring") is a thin
# long-tail class: its logit is class 3's plus a small feature, so it wins on ~1.5 % of the
# pixels by a small margin. The *perturbed* model lowers class 4's bias by just more than that
# margin: the max |Δlogit| stays tiny while class 4 disappears. Class 5 ("hat") is never
# predicted and absent from GT, so it must show up as n/a.

SIZE = 32
NUM_CLASSES = 6
THIN_CLASS, ABSENT_CLASS = 4, 5
TINY_SCHEMA = LabelSchema(
    name="tiny",
    class_names=("background", "skin", "hair", "nose", "earring", "hat"),
    colors=((0, 0, 0), (204, 0, 0), (0, 0, 255), (76, 153, 0), (255, 204, 204), (255, 0, 255)),
    flip_pairs=(),
)
NORM = Normalization()


def conv_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weight OIHW, bias, thin-class feature) drawn once from a fixed seed."""
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.3, (NUM_CLASSES, 3, 3, 3)).astype(np.float32)
    feature = rng.normal(0, 1.0, (3, 3, 3)).astype(np.float32)
    bias = np.zeros(NUM_CLASSES, np.float32)
    bias[ABSENT_CLASS] = -20.0  # never the argmax
    return weight, bias, feature


def build_onnx(path: Path, weight: np.ndarray, bias: np.ndarray) -> Path:
    """Conv (pads: bottom/right only, as TFLite SAME) + bilinear Resize ×2 (half_pixel)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = weight.shape[0]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["feat"], kernel_shape=[3, 3], strides=[2, 2],
                          pads=[0, 0, 1, 1]),
         helper.make_node("Resize", ["feat", "", "scales"], ["logits"], mode="linear",
                          coordinate_transformation_mode="half_pixel")],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c, SIZE, SIZE])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
                     numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ort_logits(path: Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": normalize(im, NORM)[None]})[0] for im in images])


@dataclass(frozen=True)
class TinyModels:
    """Test modules cannot import conftest (import-mode=importlib): constants travel here."""

    reference: Path  # the FP32 model
    perturbed: Path  # class 4's bias lowered by ``perturbation``
    perturbation: float
    weight: np.ndarray
    bias: np.ndarray  # of the reference model
    images: np.ndarray
    labels: np.ndarray
    reference_logits: np.ndarray
    checkpoint: Path
    schema: LabelSchema = TINY_SCHEMA
    size: int = SIZE
    num_classes: int = NUM_CLASSES
    thin_class: int = THIN_CLASS
    absent_class: int = ABSENT_CLASS
    norm: Normalization = NORM


def _thin_class_model(folder: Path, images: np.ndarray, scale: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Weights where class 4 = class 3 + ``scale`` · feature, offset so it covers ~1.5 % of pixels."""
    weight, bias, feature = conv_weights()
    weight[THIN_CLASS] = weight[3] + scale * feature
    probe = ort_logits(build_onnx(folder / "probe.onnx", weight, bias), images)
    gap = probe[:, THIN_CLASS] - probe[:, 3]
    region = probe[:, :4].argmax(axis=1) == 3
    k = int(0.015 * gap.size)
    bias[THIN_CLASS] = bias[3] - np.sort(gap[region])[-k] + 1e-4
    return weight, bias


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("tiny_models")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    weight, bias = _thin_class_model(folder, images)
    reference = build_onnx(folder / "tiny_onnx_fp32.onnx", weight, bias)
    logits = ort_logits(reference, images)
    others = np.delete(logits, THIN_CLASS, axis=1).max(axis=1)
    margin = float((logits[:, THIN_CLASS] - others).max())
    perturbed_bias = bias.copy()
    perturbed_bias[THIN_CLASS] -= margin + 1e-3
    perturbed = build_onnx(folder / "tiny_onnx_perturbed.onnx", weight, perturbed_bias)
    checkpoint = folder / "tiny.ckpt"
    checkpoint.write_bytes(b"tiny checkpoint bytes")
    return TinyModels(reference, perturbed, margin + 1e-3, weight, bias, images,
                      _noisy_gt(argmax_labels(logits), rng), logits, checkpoint)


def _noisy_gt(reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GT = the FP32 answer with 4 % of pixels relabelled (classes 0-3) and 2 % ignored."""
    gt = reference.copy()
    draw = rng.random(gt.shape)
    gt[draw < 0.04] = rng.integers(0, 4, gt.shape, dtype=np.uint8)[draw < 0.04]
    gt[draw > 0.98] = IGNORE_INDEX
    return gt


@pytest.fixture(scope="session")
def onnx_builder():
    """``build_onnx(path, weight, bias)`` for tests that need a variant of the tiny model."""
    pytest.importorskip("onnx")
    return build_onnx


@pytest.fixture(scope="session")
def tiny_validation(tiny) -> ValidationSet:
    return ValidationSet.from_reference(tiny.images, tiny.labels, tiny.reference_logits)


@pytest.fixture
def make_bundle(tmp_path, tiny, tiny_validation):
    """Factory: write a bundle around model file(s); returns the bundle folder."""
    def make(artifacts: Path | list[Path] | None = None, *, backend: str = "onnxruntime",
             target: str = "onnx", precision: str = "fp32", validation: ValidationSet | None = None,
             thresholds: ParityThresholds | None = None, name: str = "tiny",
             inference_precision: str | None = None, checkpoint: Path | None = None) -> Path:
        files = [artifacts or tiny.reference] if not isinstance(artifacts, list) else artifacts
        return write_bundle(
            tmp_path / f"{name}_{target}_{precision}", name=name, target=target, backend=backend,
            precision=precision, schema=TINY_SCHEMA, normalization=NORM,
            source_checkpoint=checkpoint or tiny.checkpoint,
            artifacts=files, validation=validation or tiny_validation, backend_version="test",
            build_command=f"pytest make_bundle {name} {target} {precision}",
            tool_versions={"numpy": np.__version__}, parity_thresholds=thresholds,
            inference_precision=inference_precision,
        )
    return make
