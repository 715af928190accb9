"""Tiny torch-free deploy fixtures: ONNX models built with onnx.helper and a validation set.

The model is Conv(3→6, 3×3, stride 2) + Resize ×2 at 32×32. Class 4 ("earring") is a thin
long-tail class: its logit is class 3's plus a small feature, so it wins on ~1.5 % of the
pixels by a small margin. The *perturbed* model lowers class 4's bias by just more than that
margin: the max |Δlogit| stays tiny while class 4 disappears. Class 5 ("hat") is never
predicted and absent from GT, so it must show up as n/a.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.bundle import ParityThresholds, ValidationSet, write_bundle
from edge.preprocess import Normalization, argmax_labels, normalize
from edge.schemas import IGNORE_INDEX, LabelSchema

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
             inference_precision: str | None = None) -> Path:
        files = [artifacts or tiny.reference] if not isinstance(artifacts, list) else artifacts
        return write_bundle(
            tmp_path / f"{name}_{target}_{precision}", name=name, target=target, backend=backend,
            precision=precision, schema=TINY_SCHEMA, normalization=NORM, source_checkpoint=tiny.checkpoint,
            artifacts=files, validation=validation or tiny_validation, backend_version="test",
            build_command=f"pytest make_bundle {name} {target} {precision}",
            tool_versions={"numpy": np.__version__}, parity_thresholds=thresholds,
            inference_precision=inference_precision,
        )
    return make
