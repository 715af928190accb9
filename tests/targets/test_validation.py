"""The validation set every bundle of a deploy run carries, and where its images come from: the
user's deploy data, the recipe's synthetic or real data, or portrait views when real data is absent."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bundle import ValidationSource
from edge.errors import BackendUnavailable, CheckpointError, ConfigError, DataError
from edge.preprocess import argmax_labels, normalize
from targets.config import DeployDataCfg
from targets.validation import build_validation_set, calibration_images, open_sources


def test_validation_set_holds_the_onnx_reference_at_the_input_size(deploy_inputs, kit):
    import onnxruntime as ort

    val = deploy_inputs.validation
    assert val.images.shape == (4, kit.size, kit.size, 3) and val.labels.shape == (4, kit.size, kit.size)
    session = ort.InferenceSession(str(deploy_inputs.onnx_path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": normalize(val.images[2])[None]})[0]
    np.testing.assert_array_equal(argmax_labels(logits)[0], val.reference_labels[2])
    assert set(np.unique(val.labels)) <= set(range(11))  # LaPa ids; synthetic labels never hold 255


def test_synthetic_validation_images_are_the_recipe_val_split_not_train(deploy_inputs, kit):
    """The calibration (train split) and validation (val split, seed + 1) images differ."""
    calib = deploy_inputs.calibration[0]
    val = normalize(deploy_inputs.validation.images[0])[None]
    assert calib.shape == val.shape and not np.allclose(calib, val)


def test_sources_need_a_recipe_or_an_explicit_dataset(kit):
    with pytest.raises(CheckpointError, match="data.format=FORMAT data.root=DIR"):
        open_sources({"model_name": "x"}, kit.tiny_cfg())
    with pytest.raises(ConfigError, match="data.root is required"):
        open_sources({}, kit.tiny_cfg(data=DeployDataCfg(format="lapa")))


def _with_data(checkpoint: Path, out: Path, **data: object) -> Path:
    """A copy of the tiny checkpoint whose recipe names other training data."""
    from training.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(checkpoint)
    payload["config"]["data"].update(data)
    save_checkpoint(payload, out)
    return out


def _portraits_or_skip() -> None:
    from edge.data.portraits import find_portraits

    try:
        find_portraits()
    except (BackendUnavailable, DataError) as exc:
        pytest.skip(f"portrait files absent: {exc}")


def _folder_dataset(root: Path, size: int, count: int = 3) -> Path:
    """``root/{train,val}/{images,masks}`` with LaPa ids, as ``data.format=folder`` reads it."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(root / split / "images" / f"{i}.png"), rng.integers(0, 256, (size, size, 3), np.uint8))
            cv2.imwrite(str(root / split / "masks" / f"{i}.png"), rng.integers(0, 11, (size, size), np.uint8))
    return root


def test_a_synthetic_recipe_still_validates_on_synthetic_faces(tiny_checkpoint, kit, deploy_inputs):
    from training.checkpoint import load_checkpoint

    sources = open_sources(load_checkpoint(tiny_checkpoint), kit.tiny_cfg())
    assert sources.kind == "synthetic" and "synthetic" in sources.description
    assert sources.record(deploy_inputs.validation) == ValidationSource("synthetic", sources.description, True)


def test_a_real_recipe_whose_data_is_absent_validates_on_portraits_not_cartoons(tiny_checkpoint, kit, tmp_path,
                                                                                deploy_inputs, caplog):
    from training.checkpoint import load_checkpoint, schema_of

    _portraits_or_skip()
    absent = tmp_path / "shared" / "celebamask_mini"
    payload = load_checkpoint(_with_data(tiny_checkpoint, tmp_path / "real.pt", format="folder", root=str(absent),
                                         schema="lapa"))
    with caplog.at_level("WARNING", logger="targets.validation"):
        sources = open_sources(payload, kit.tiny_cfg())
    assert sources.kind == "portraits" and str(absent) in sources.description
    assert "not synthetic cartoons" in caplog.text and "is absent here" in caplog.text
    validation = build_validation_set(sources.validation, schema_of(payload), deploy_inputs.onnx_path, kit.size, 4,
                                      threads=1)
    assert validation.images.shape == (4, kit.size, kit.size, 3) and not validation.has_ground_truth
    assert sources.record(validation).has_ground_truth is False
    calibration = calibration_images(sources.calibration, kit.size, 8)
    assert len(calibration) == 8 and not np.allclose(calibration[0], normalize(validation.images[0])[None])


def test_a_real_recipe_whose_data_exists_validates_on_its_val_split(tiny_checkpoint, kit, tmp_path, monkeypatch,
                                                                    deploy_inputs):
    from training.checkpoint import load_checkpoint, schema_of

    _folder_dataset(tmp_path / "data" / "faces", kit.size)
    monkeypatch.chdir(tmp_path)  # recipes name their data relative to where training ran
    payload = load_checkpoint(_with_data(tiny_checkpoint, tmp_path / "real.pt", format="folder",
                                         root="data/faces", schema="lapa"))
    sources = open_sources(payload, kit.tiny_cfg())
    assert sources.kind == "dataset" and "split val" in sources.description
    validation = build_validation_set(sources.validation, schema_of(payload), deploy_inputs.onnx_path, kit.size, 4,
                                      threads=1)
    assert len(validation) == 3 and validation.has_ground_truth  # all 3 val images, with their masks
    assert sources.record(validation) == ValidationSource("dataset", sources.description, True)


def test_explicit_deploy_data_that_is_absent_is_a_one_line_error(tiny_checkpoint, kit, tmp_path, capsys):
    from edge.cli import main

    missing = tmp_path / "my_faces"
    with pytest.raises(DataError, match=f"data.root={missing} does not exist"):
        open_sources({}, kit.tiny_cfg(data=DeployDataCfg(format="folder", root=str(missing), schema="lapa")))
    code = main(["deploy", "--target", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"),
                 "input_size=64", "data.format=folder", f"data.root={missing}", "data.schema=lapa"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "does not exist" in err


def test_explicit_deploy_data_is_used_with_its_ground_truth(kit, tmp_path):
    root = _folder_dataset(tmp_path / "faces", kit.size)
    sources = open_sources({}, kit.tiny_cfg(data=DeployDataCfg(format="folder", root=str(root), schema="lapa")))
    assert sources.kind == "dataset" and len(sources.validation) == 3
    assert (sources.validation[0].label != 255).any()


def test_deploy_of_a_real_model_without_its_data_records_portraits_in_every_bundle(tiny_checkpoint, tmp_path,
                                                                                   capsys):
    from edge.cli import main

    _portraits_or_skip()
    checkpoint = _with_data(tiny_checkpoint, tmp_path / "real.pt", format="folder", root=str(tmp_path / "absent"),
                            schema="lapa")
    out = tmp_path / "bundles"
    assert main(["deploy", "--target", "onnx", "--checkpoint", str(checkpoint), "--out", str(out), "input_size=64",
                 "validation_images=4", "bench.runs=3", "bench.warmup=1", "bench.threads=1",
                 "bench.e2e_size=[48,80]"]) == 0
    printed = capsys.readouterr().out
    assert "validation set: 4 images from views of 2 public-domain portraits" in printed
    assert "validation set without ground truth" in printed
    manifest = json.loads((out / "ehanet_mbv2_onnx_fp32" / "manifest.json").read_text())
    assert manifest["validation_source"]["kind"] == "portraits"
    assert manifest["validation_source"]["has_ground_truth"] is False
    report = json.loads((out / "report.json").read_text())
    assert report["results"]["validation"]["kind"] == "portraits"
    (row,) = report["results"]["rows"]
    assert row["status"] == "ok" and row["miou"] is None and row["delta_miou"] == 0.0
