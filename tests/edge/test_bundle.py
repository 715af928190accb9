"""The deploy bundle: checksums catch truncation/tampering, manifests and validation sets are checked."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from edge.bundle import (
    MANIFEST_FILE,
    PARITY_FILE,
    VALIDATION_FILE,
    BestPointer,
    ParityThresholds,
    ValidationSet,
    best_pointer_path,
    load_bundle,
    load_manifest,
    resolve_bundle_path,
    write_best_pointer,
)
from edge.errors import BundleError
from edge.io import file_sha256

SIZE, NUM_CLASSES = 32, 6  # the tiny model of conftest.py


def test_write_then_load_round_trips_manifest_and_validation(make_bundle, tiny, tiny_validation):
    path = make_bundle(thresholds=ParityThresholds(2.0, 5.0, 97.0))
    bundle = load_bundle(path)
    m = bundle.manifest
    assert (m.format_version, m.target, m.backend, m.precision) == (1, "onnx", "onnxruntime", "fp32")
    assert m.artifacts == {tiny.reference.name: file_sha256(tiny.reference)}
    assert m.source_checkpoint.sha256 == file_sha256(tiny.checkpoint)
    assert m.input.shape == (1, 3, SIZE, SIZE) and m.input.size == (SIZE, SIZE)
    assert (m.input.name, m.output.name, m.input.layout, m.input.color) == ("input", "logits", "NCHW", "RGB")
    assert m.parity_thresholds == ParityThresholds(2.0, 5.0, 97.0)
    assert m.inference_precision is None  # onnxruntime has no precision to pin
    assert bundle.schema == tiny.schema
    assert bundle.model_path == path / tiny.reference.name
    assert bundle.size_mb == pytest.approx(tiny.reference.stat().st_size / 1e6)
    for field in dataclasses.fields(ValidationSet):
        expected = getattr(tiny_validation, field.name)
        np.testing.assert_array_equal(getattr(bundle.validation, field.name), expected)
    assert json.loads((path / MANIFEST_FILE).read_text())["created_utc"].endswith("Z")


def test_the_inference_precision_to_pin_round_trips(make_bundle):
    path = make_bundle(backend="openvino", target="cpu", precision="bf16", inference_precision="bf16")
    assert load_bundle(path).manifest.inference_precision == "bf16"
    assert json.loads((path / MANIFEST_FILE).read_text())["inference_precision"] == "bf16"


def test_validation_set_keeps_at_most_four_float16_logit_maps(tiny_validation):
    assert tiny_validation.reference_logits.shape == (4, NUM_CLASSES, SIZE, SIZE)
    assert tiny_validation.reference_logits.dtype == np.float16
    assert tiny_validation.reference_confusion.sum() == np.count_nonzero(tiny_validation.labels != 255)


@pytest.mark.parametrize("damage", ["truncate", "tamper", "delete"])
def test_damaged_model_file_is_named_with_the_rebuild_command(make_bundle, tiny, damage):
    path = make_bundle()
    model = path / tiny.reference.name
    data = model.read_bytes()
    if damage == "truncate":
        model.write_bytes(data[: len(data) // 2])
    elif damage == "tamper":  # same length, one byte changed
        model.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        model.unlink()
    with pytest.raises(BundleError, match=rf"{model.name}.*rebuild the bundle with: pytest make_bundle"):
        load_bundle(path)


def test_tampered_validation_set_is_caught(make_bundle):
    path = make_bundle()
    npz = path / VALIDATION_FILE
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(BundleError, match=VALIDATION_FILE):
        load_bundle(path)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(precision="int4"), r"precision: 'int4' is not one of"),
    (lambda d: d.update(inference_precision="fp32"),
     r"inference_precision: 'fp32' is not one of 'f32', 'bf16'"),
    (lambda d: d.update(precison="int8"), r"unknown config key 'precison'.*Did you mean 'precision'"),
    (lambda d: d.pop("artifacts"), r"artifacts"),
    (lambda d: d.update(format_version=7), r"format_version 7 is not supported"),
    (lambda d: d["input"].update(shape=[1, 3, 32]), r"input.shape: expected 4 values"),
])
def test_malformed_manifest_is_a_bundle_error(make_bundle, edit, message):
    path = make_bundle()
    data = json.loads((path / MANIFEST_FILE).read_text())
    edit(data)
    (path / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_invalid_json_and_missing_manifest(make_bundle, tmp_path):
    path = make_bundle()
    (path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="malformed JSON"):
        load_manifest(path)
    with pytest.raises(BundleError, match="is not a deploy bundle"):
        load_bundle(tmp_path / "nowhere")


def test_class_map_mismatch_between_manifest_and_validation_set(make_bundle):
    path = make_bundle()
    data = json.loads((path / MANIFEST_FILE).read_text())
    for key in ("class_names", "colors"):
        data["schema"][key] = data["schema"][key][:4]
    (path / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"made for a \[6, 6\] confusion matrix but the manifest schema has 4 classes: the class map"):
        load_bundle(path)


def test_labels_outside_the_schema_are_rejected(tiny):
    labels = tiny.labels.copy()
    labels[0, 0, 0] = 9
    with pytest.raises(BundleError, match=r"class ids \[9\] are outside"):
        ValidationSet(tiny.images, labels, tiny.labels.clip(0, 5),
                      tiny.reference_logits[:1].astype(np.float16),
                      np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)).check(NUM_CLASSES, (SIZE, SIZE), "val")


def test_inconsistent_reference_confusion_is_rejected(tiny_validation):
    broken = dataclasses.replace(tiny_validation, reference_confusion=tiny_validation.reference_confusion + 1)
    with pytest.raises(BundleError, match="reference_confusion does not match"):
        broken.check(NUM_CLASSES, (SIZE, SIZE), "val")


def test_wrong_image_dtype_is_rejected_when_writing(make_bundle, tiny_validation):
    floats = dataclasses.replace(tiny_validation, images=tiny_validation.images.astype(np.float32))
    with pytest.raises(BundleError, match=r"images is float32\[6, 32, 32, 3\], expected uint8"):
        make_bundle(validation=floats)


def test_missing_or_duplicate_artifacts_are_refused(make_bundle, tiny, tmp_path):
    with pytest.raises(BundleError, match="not found"):
        make_bundle([tmp_path / "absent.onnx"])
    with pytest.raises(BundleError, match="used twice"):
        make_bundle([tiny.reference, tiny.reference])


# --- the parity verdict (parity.json) and the best pointer --------------------------------------------------

def _seal_passed(path):
    """Validate the tiny reference bundle against itself and seal the (passing) verdict."""
    from edge.backends import open_runner
    from edge.parity import record_parity, validate_bundle

    bundle = load_bundle(path)
    with open_runner(bundle) as runner:
        return record_parity(bundle, validate_bundle(bundle, runner), "pytest")


def test_a_new_bundle_records_that_it_was_never_validated(make_bundle):
    bundle = load_bundle(make_bundle())
    assert bundle.parity.verdict == "not_validated" and bundle.parity.checked_by == "write_bundle"
    assert bundle.manifest.parity_sha256 == file_sha256(bundle.path / PARITY_FILE)


def test_a_sealed_verdict_names_the_model_validation_set_and_thresholds(make_bundle, tiny):
    sealed = _seal_passed(make_bundle())
    reloaded = load_bundle(sealed.path)
    record = reloaded.parity
    assert record == sealed.parity and record.verdict == "passed" and record.checked_utc.endswith("Z")
    assert (record.model_file, record.model_sha256) == (tiny.reference.name, file_sha256(tiny.reference))
    assert record.validation_sha256 == reloaded.manifest.validation_sha256
    assert record.thresholds == reloaded.manifest.parity_thresholds
    assert record.summary["failed_checks"] == [] and record.summary["agreement_pct"] == 100.0


@pytest.mark.parametrize("edit, message", [
    (lambda record: record.update(verdict="passed"), "parity.json is truncated or modified"),
    (lambda record: None, None),  # rewritten unchanged: still the sealed bytes
])
def test_an_edited_verdict_is_refused(make_bundle, edit, message):
    path = make_bundle()
    file = path / PARITY_FILE
    record = json.loads(file.read_text())
    edit(record)
    file.write_text(json.dumps(record, indent=2) + "\n")
    if message is None:
        assert load_bundle(path).parity.verdict == "not_validated"
    else:
        with pytest.raises(BundleError, match=message):
            load_bundle(path)


@pytest.mark.parametrize("field, value, message", [
    ("parity_thresholds", {"max_delta_miou_pts": 50.0, "max_class_delta_f1_pts": 50.0, "min_agreement_pct": 50.0},
     "the verdict was reached with thresholds"),
    ("validation_sha256", "0" * 64, "validation.npz is truncated or modified"),
])
def test_loosened_thresholds_or_another_validation_set_invalidate_the_verdict(make_bundle, field, value,
                                                                           message):
    """The verdict names what it covered: editing the limits is caught (every other field the verdict
    depends on: tests/robustness/test_gate.py)."""
    path = _seal_passed(make_bundle()).path
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest[field] = value
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_a_best_pointer_resolves_with_or_without_its_suffix_and_stays_inside_its_folder(make_bundle):
    path = make_bundle()
    pointer = best_pointer_path(path.parent, "tiny", "onnx")
    write_best_pointer(pointer, BestPointer(path.name, "onnx", "fp32", file_sha256(path / MANIFEST_FILE), 1.5))
    assert pointer.name == "tiny_onnx_best.json"
    for given in (pointer, path.parent / "tiny_onnx_best"):
        assert resolve_bundle_path(given) == path and load_bundle(given).path == path
    assert resolve_bundle_path(path) == path  # a bundle folder is itself
    with pytest.raises(BundleError, match="must be the name of a bundle folder"):
        write_best_pointer(pointer, BestPointer("../elsewhere", "onnx", "fp32", "0" * 64, 1.0))
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "bundle": "../" + path.name}))
    with pytest.raises(BundleError, match="not a bundle folder name beside the pointer"):
        load_bundle(pointer)


def test_a_best_pointer_to_a_rebuilt_bundle_or_nowhere_is_refused(make_bundle, tmp_path):
    path = make_bundle()
    pointer = best_pointer_path(path.parent, "tiny", "onnx")
    write_best_pointer(pointer, BestPointer(path.name, "onnx", "fp32", file_sha256(path / MANIFEST_FILE), 1.5))
    _seal_passed(path)  # the manifest changes: the pointer no longer names what was measured
    with pytest.raises(BundleError, match="changed after it was recommended"):
        load_bundle(pointer)
    with pytest.raises(BundleError, match="no recommended bundle was recorded there"):
        load_bundle(tmp_path / "tiny_cpu_best")
