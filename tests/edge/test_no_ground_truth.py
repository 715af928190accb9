"""A validation set without ground truth (all labels 255, e.g. portrait views): parity against the
FP32 labels, no NaN or division warnings, no GT numbers made up, and a recorded source."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from edge.backends import open_runner
from edge.bundle import (
    MANIFEST_FILE,
    ParityThresholds,
    ValidationSet,
    ValidationSource,
    load_bundle,
    write_bundle,
)
from edge.errors import BundleError
from edge.parity import format_parity_table, validate_bundle
from edge.report import format_markdown, format_table, make_row

PORTRAITS = ValidationSource("portraits", "views of public-domain portraits; no ground truth", False)


@pytest.fixture(scope="module")
def no_gt(tiny) -> ValidationSet:
    return ValidationSet.from_reference(tiny.images, np.full_like(tiny.labels, 255), tiny.reference_logits)


def _bundle(tmp_path, tiny, validation, model=None, source=PORTRAITS, precision="fp32"):
    return write_bundle(
        tmp_path / f"tiny_onnx_{precision}", name="tiny", target="onnx", backend="onnxruntime",
        precision=precision, schema=tiny.schema, normalization=tiny.norm, source_checkpoint=tiny.checkpoint,
        artifacts=[model or tiny.reference], validation=validation, backend_version="test",
        build_command="pytest", validation_source=source)


def _validate(path):
    bundle = load_bundle(path)
    with open_runner(bundle, threads=1) as runner, warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty confusion matrix must not warn or divide by zero
        return bundle, validate_bundle(bundle, runner)


def test_the_validation_source_round_trips_and_must_match_the_labels(tmp_path, tiny, no_gt, tiny_validation):
    assert not no_gt.has_ground_truth and tiny_validation.has_ground_truth
    assert not no_gt.reference_confusion.any()
    path = _bundle(tmp_path, tiny, no_gt)
    assert load_bundle(path).manifest.validation_source == PORTRAITS
    assert json.loads((path / MANIFEST_FILE).read_text())["validation_source"]["kind"] == "portraits"
    with pytest.raises(BundleError, match="has_ground_truth=True but the validation labels hold no"):
        _bundle(tmp_path / "x", tiny, no_gt, source=ValidationSource("dataset", "mine", True))


@pytest.mark.parametrize("edit, message", [
    ({"kind": "cartoons"}, "'cartoons' is not one of"),
    ({"has_ground_truth": True}, "validation labels hold no ground truth"),
    ({"color": "red"}, "unknown config key 'validation_source.color'"),
])
def test_a_wrong_validation_source_in_the_manifest_is_refused(tmp_path, tiny, no_gt, edit, message):
    path = _bundle(tmp_path, tiny, no_gt)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["validation_source"].update(edit)
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_identical_model_passes_against_the_fp32_labels_without_gt_numbers(tmp_path, tiny, no_gt):
    bundle, result = _validate(_bundle(tmp_path, tiny, no_gt))
    assert result.passed and not result.ground_truth
    assert result.delta_miou_pts == 0.0 and result.candidate_miou == 100.0 and result.agreement_pct == 100.0
    assert math.isnan(result.reference_miou)
    assert all(c.gt_pixels == 0 and math.isnan(c.reference_f1) for c in result.classes)
    assert result.source == "the bundle validation set (6 images, portraits)"
    row = make_row(bundle, result)
    assert row.miou is None and row.delta_miou == 0.0  # the GT column is empty, not 0
    assert " - " in format_table([row]).splitlines()[1]
    json.dumps(result.to_dict(), allow_nan=False)


def test_without_gt_the_class_changes_are_reported_and_the_agreement_gates(tmp_path, tiny, no_gt):
    """An erased thin class shows as ΔF1 -100 against the FP32 labels; that worst-case bound is
    reported, not gated, and the pixel agreement decides."""
    path = _bundle(tmp_path, tiny, no_gt, model=tiny.perturbed, precision="int8")
    bundle, result = _validate(path)
    thin = result.classes[tiny.thin_class]
    assert thin.status == "reported" and thin.candidate_f1 == 0.0 and thin.delta_f1_pts == -100.0
    assert result.worst_class == thin and result.classes[tiny.absent_class].status == "n/a"
    assert result.delta_miou_pts < -1.0
    checks = {c.name: c.passed for c in result.checks}
    assert checks == {"ΔmIoU": None, "worst-class ΔF1": None, "pixel agreement": True, "max |Δlogit|": None}
    assert result.passed
    with open_runner(bundle, threads=1) as runner:
        strict = validate_bundle(bundle, runner, thresholds=ParityThresholds(min_agreement_pct=99.99))
    assert not strict.passed and [c.name for c in strict.checks if c.passed is False] == ["pixel agreement"]
    table = format_parity_table(result)
    assert "no ground truth" in table and "nan" not in table
    assert not any(line.startswith("❌") or line.endswith("❌") for line in table.splitlines())
    assert "no ground truth" in format_markdown([make_row(bundle, result)], result)
