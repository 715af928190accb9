"""A tiny trained-looking checkpoint and the shared inputs of a deploy run, built once per session.

The checkpoint is ``ehanet_mbv2`` (11 LaPa classes) with seeded random weights, saved with the
fields ``Trainer._save`` writes and a synthetic-data recipe at 64², so the deploy pipeline reads
its data the way it does for a real run. Its BatchNorm statistics are set from a few synthetic
images so that the logits are not degenerate (a random-init network otherwise predicts one class).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.bundle import ValidationSet
from edge.config import to_dict
from targets.config import BenchCfg, DeployCfg, DeployDataCfg
from training.checkpoint import save_checkpoint
from training.config import DataCfg, RecipeCfg
from training.models import create_model

SIZE = 64
MODEL = "ehanet_mbv2"


def tiny_recipe() -> RecipeCfg:
    return RecipeCfg(name="tiny", data=DataCfg(format="synthetic", schema="lapa", size=SIZE, synthetic_train=16,
                                               synthetic_val=8, workers=0))


def _calibrate_batchnorm(model: torch.nn.Module, recipe: RecipeCfg) -> None:
    """Set BN running stats from synthetic images (train-mode forward passes, no gradient)."""
    from targets.validation import calibration_images
    from training.data.factory import build_source

    images = calibration_images(build_source(recipe.data, "train"), SIZE, 8)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the passes
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(np.concatenate(images)))
    model.eval()


def make_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    recipe = tiny_recipe()
    model = create_model(MODEL, num_classes=11)
    _calibrate_batchnorm(model, recipe)
    from edge.schemas import get_schema

    save_checkpoint({
        "model_name": MODEL, "model_overrides": {}, "num_classes": 11,
        "schema": get_schema("lapa").to_dict(), "config": to_dict(recipe), "state_dict": model.state_dict(),
        "optimizer": {}, "scaler": {}, "progress": {"epoch": 0}, "metrics": {},
    }, path)
    return path


def tiny_cfg(**overrides) -> DeployCfg:
    base = {"input_size": SIZE, "validation_images": 4, "calibration_images": 8,
            "bench": BenchCfg(warmup=1, runs=3, threads=1, e2e_size=(48, 80)), "data": DeployDataCfg()}
    return DeployCfg(**{**base, **overrides})


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@dataclass(frozen=True)
class DeployInputs:
    """What ``LowerRequest`` needs, made once: the exported ONNX, the model, images."""

    checkpoint: Path
    onnx_path: Path
    model: torch.nn.Module
    validation: ValidationSet
    calibration: list[np.ndarray]
    schema: object


@pytest.fixture(scope="session")
def deploy_inputs(tiny_checkpoint, tmp_path_factory) -> DeployInputs:
    from targets.export import export_onnx
    from targets.validation import build_validation_set, calibration_images, open_sources
    from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of

    payload = load_checkpoint(tiny_checkpoint)
    model = build_model_from_checkpoint(payload).eval()
    onnx_path = export_onnx(model, SIZE, tmp_path_factory.mktemp("onnx") / "tiny_fp32.onnx")
    cfg = tiny_cfg()
    sources = open_sources(payload, cfg)
    validation = build_validation_set(sources.validation, schema_of(payload), onnx_path, SIZE, 4, threads=1)
    calibration = calibration_images(sources.calibration, SIZE, 8)
    return DeployInputs(tiny_checkpoint, onnx_path, model, validation, calibration, schema_of(payload))


def lower_to_bundle(target: str, precision: str, inputs: DeployInputs, work_dir: Path, out_dir: Path,
                    cfg: DeployCfg | None = None, float_layers: tuple[str, ...] = ()) -> Path:
    """``lower`` one (target, precision) and write its bundle, as ``edgeparse deploy`` does (with
    ``float_layers``: as its mixed-precision fallback does)."""
    from edge.bundle import write_bundle
    from edge.preprocess import Normalization
    from targets import load_target
    from targets.base import LowerRequest
    from targets.formats import find_format

    cfg = cfg or tiny_cfg()
    module = load_target(target)
    stem = f"{MODEL}_{target}_{precision}"
    work_dir.mkdir(parents=True, exist_ok=True)
    request = LowerRequest(target, precision, inputs.onnx_path, inputs.model, lambda: inputs.calibration,
                           inputs.checkpoint, work_dir, stem, cfg, float_layers)
    lowered = module.lower(request)
    row = find_format(target, precision)
    return write_bundle(out_dir / stem, name=stem, target=target, backend=row.backend,
                        precision=precision, schema=inputs.schema, normalization=Normalization(),
                        source_checkpoint=inputs.checkpoint, artifacts=lowered.artifacts,
                        validation=inputs.validation, backend_version=lowered.backend_version,
                        build_command="pytest", parity_thresholds=cfg.thresholds.of(precision),
                        quantization=lowered.quantization, inference_precision=row.inference_precision,
                        notes=lowered.notes)


def check(bundle_dir: Path, target: str, precision: str, cfg: DeployCfg | None = None):
    """Load (checksums), validate and benchmark a bundle through the pipeline's own step."""
    from targets.pipeline import Job, Stages, check_bundle

    return check_bundle(bundle_dir, Job(target, precision), cfg or tiny_cfg(), Stages(2, lambda line: None))


class Kit:
    """Test modules cannot import conftest (import-mode=importlib): helpers travel in this fixture."""

    size = SIZE
    model = MODEL
    tiny_cfg = staticmethod(tiny_cfg)
    lower_to_bundle = staticmethod(lower_to_bundle)
    check = staticmethod(check)
    make_checkpoint = staticmethod(make_checkpoint)


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()
