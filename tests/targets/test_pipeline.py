"""``edgeparse deploy`` end to end at 64², and how the pipeline reports what it cannot build or run."""
from __future__ import annotations

import argparse
import importlib.util
import json
import re

import pytest

from edge.cli import main
from edge.errors import CheckpointError
from targets.float_layers import unqualified

FAST = ["input_size=64", "validation_images=4", "calibration_images=8", "bench.runs=5", "bench.warmup=1",
        "bench.threads=1", "bench.e2e_size=[48,80]"]


def _deploy(args: list[str]) -> int:
    return main(["deploy", *args, *FAST])


def test_deploy_onnx_prints_one_table_writes_reports_and_bench_only_reuses_the_bundle(tiny_checkpoint, tmp_path,
                                                                                      capsys):
    out = tmp_path / "bundles"
    assert _deploy(["--target", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[1/5] export:" in printed and "[5/5] onnx fp32: benchmark" in printed
    assert "Format" in printed and "onnxruntime  fp32" in printed and "✅ ok" in printed
    assert "1 threads, 1 warm-up + 5 runs" in printed  # the bench settings are printed with the table
    for name in ("report.json", "report.md", "report.png", "deploy_config.yaml",
                 "ehanet_mbv2_onnx_fp32/manifest.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"command", "settings", "results"}
    assert report["results"]["rows"][0]["status"] == "ok"
    # the FP32 bundle's flicker on the clip is the reference's own (onnxruntime on the same ONNX): Δ 0
    row = report["results"]["rows"][0]
    assert row["flicker_raw_pct"] is not None and row["flicker_smoothed_pct"] is not None
    assert "Flicker raw/sm %" in printed
    manifest = json.loads((out / "ehanet_mbv2_onnx_fp32/manifest.json").read_text())
    assert "--target onnx --precisions fp32" in manifest["build_command"]
    # the verdict is sealed into the bundle, and the one passing row is the recommended one
    assert json.loads((out / "ehanet_mbv2_onnx_fp32/parity.json").read_text())["verdict"] == "passed"
    assert "★ onnxruntime" in printed and "★ onnx: ehanet_mbv2_onnx_fp32 (onnxruntime fp32" in printed
    assert report["results"]["recommended"]["onnx"]["bundle"] == "ehanet_mbv2_onnx_fp32"
    assert str(out / "ehanet_mbv2_onnx_best.json") in printed  # listed with the reports

    assert _deploy(["--target", "onnx", "--out", str(out), "--bench-only"]) == 0
    assert "[2/2] onnx fp32: benchmark" in capsys.readouterr().out
    # bench-only re-seals the verdict (the manifest changes) and points at the bundle again
    assert main(["bench", str(out / "ehanet_mbv2_onnx_best"), "--runs", "2", "--warmup", "0", "--threads", "1",
                 "--strict"]) == 0


def test_a_wrong_normalisation_fails_parity_and_one_edited_in_later_is_refused(tiny_checkpoint, tmp_path, capsys,
                                                                               monkeypatch):
    """A planted deploy bug (the bundle tells the device the wrong mean/std) turns the row ❌ parity_failed
    with exit 1; the same mean/std edited into a built bundle's manifest is refused as tampering."""
    from edge.preprocess import Normalization

    out = tmp_path / "bundles"
    build = ["--target", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    monkeypatch.setattr("targets.pipeline.Normalization", lambda: Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    assert _deploy(build) == 1
    assert "❌ parity_failed" in capsys.readouterr().out
    monkeypatch.undo()

    assert _deploy(build) == 0
    manifest_file = out / "ehanet_mbv2_onnx_fp32" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["input"]["normalization"] = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    manifest_file.write_text(json.dumps(manifest))
    capsys.readouterr()
    assert _deploy(["--target", "onnx", "--out", str(out), "--bench-only"]) == 1
    assert "❌ export_failed" in capsys.readouterr().out
    [row] = json.loads((out / "report.json").read_text())["results"]["rows"]
    assert "input.normalization.mean, input.normalization.std changed after the parity verdict" in row["reason"]


def test_a_forbidden_op_is_rejected_before_lowering(tiny_checkpoint, tmp_path, monkeypatch):
    """A target whose rules lack an op of the graph gets an export_failed row naming it; lower never runs."""
    import dataclasses

    import targets.litert as mobile
    from targets.config import DeployCfg
    from targets.pipeline import Job, deploy

    def lower(request):
        raise AssertionError("lower must not run on a graph the target rejected")

    monkeypatch.setattr(mobile, "GRAPH_RULES", dataclasses.replace(mobile.GRAPH_RULES,
                                                                   ops=mobile.GRAPH_RULES.ops - {"Resize"}))
    monkeypatch.setattr(mobile, "lower", lower)
    cfg = DeployCfg(input_size=64, validation_images=2, calibration_images=2)
    result = deploy(tiny_checkpoint, cfg, [Job("mobile", "fp32")], tmp_path, "edgeparse deploy", emit=print)
    (row,) = result.rows
    assert row.status == "export_failed" and "unsupported ops ['Resize']" in row.reason
    assert result.failed and not (tmp_path / "ehanet_mbv2_mobile_fp32").exists()


def test_bundles_without_a_runnable_model_here_are_skipped_or_unavailable(deploy_inputs, kit, tmp_path):
    """Jetson bundles built on a CPU host ship the ONNX (skipped) or an engine TensorRT must run (unavailable)."""
    from edge.bundle import write_bundle
    from edge.preprocess import Normalization

    def bundle(name, artifact, notes):
        return write_bundle(tmp_path / name, name=name, target="jetson", backend="tensorrt", precision="fp16",
                            schema=deploy_inputs.schema, normalization=Normalization(),
                            source_checkpoint=deploy_inputs.checkpoint, artifacts=[artifact],
                            validation=deploy_inputs.validation, backend_version="n/a", build_command="pytest",
                            notes=notes)

    onnx_only = bundle("onnx_only", deploy_inputs.onnx_path, "engine builds on the device: bash build_engine.sh")
    outcome = kit.check(onnx_only, "jetson", "fp16")
    assert outcome.row.status == "skipped" and "build_engine.sh" in outcome.row.reason
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine")
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here; the unavailable path needs a host without it")
    outcome = kit.check(bundle("with_engine", engine, ""), "jetson", "fp16")
    assert outcome.row.status == "unavailable" and "tensorrt" in outcome.row.reason


def test_missing_default_student_names_the_command_that_trains_it(tmp_path, monkeypatch):
    import targets.config

    monkeypatch.setattr(targets.config, "DEFAULT_CHECKPOINT", tmp_path / "absent.pt")
    from targets import deploy_cmd

    parser = argparse.ArgumentParser()
    deploy_cmd.add_arguments(parser)
    with pytest.raises(CheckpointError, match="make default-student"):
        deploy_cmd.run(parser.parse_args(["--out", str(tmp_path)]))


@pytest.mark.slow
def test_deploy_cpu_end_to_end(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "bundles"
    code = _deploy(["--target", "cpu", "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                    "int8.fallback_max_float_layers=0"])  # one row per precision (the fallback has its own test)
    printed = capsys.readouterr().out
    rows = json.loads((out / "report.json").read_text())["results"]["rows"]
    precisions = ("fp32", "fp16", "bf16", "int8")
    assert [(r["format"], r["precision"]) for r in rows] == [("openvino", p) for p in precisions]
    assert rows[0]["status"] == "ok" and rows[0]["applied_precision"] == "f32"
    assert rows[2]["status"] in ("ok", "parity_failed", "skipped")  # skipped on CPUs without native bf16
    assert code == (1 if any(r["status"] == "parity_failed" for r in rows) else 0)
    assert "[14/14] cpu int8: benchmark" in printed and re.search(r"openvino +int8", printed)  # ★ widens a column
    assert all((out / f"report.{ext}").is_file() for ext in ("json", "md", "png"))


def test_a_failed_int8_gate_triggers_the_mixed_precision_fallback_with_translated_layer_names(tiny_checkpoint,
                                                                                           tmp_path, capsys):
    """The random tiny student fails int8 parity at any precision mix (~60 % agreement), which plants the
    failure: deploy ranks layers by sensitivity, rebuilds with the most sensitive one float in NNCF's
    ignored scope (OpenVINO's name for it), supersedes the first attempt and reports both."""
    out = tmp_path / "bundles"
    code = _deploy(["--target", "cpu", "--precisions", "int8", "--checkpoint", str(tiny_checkpoint), "--out",
                    str(out), "int8.fallback_max_float_layers=1"])
    printed = capsys.readouterr().out
    assert "parity failed; ranking layers by int8 sensitivity" in printed
    rows = json.loads((out / "report.json").read_text())["results"]["rows"]
    first, fallback = rows
    assert first["status"] == "parity_failed" and first["superseded"] and not first["float_layers"]
    (layer,) = fallback["float_layers"]
    assert not fallback["superseded"] and fallback["bundle"] == "ehanet_mbv2_cpu_int8"
    assert code == (1 if fallback["status"] == "parity_failed" else 0)  # the superseded attempt fails nothing
    assert "parity_failed, superseded" in printed and "int8 +1 float" in printed and f"float: {layer}" in printed
    manifest = json.loads((out / "ehanet_mbv2_cpu_int8" / "manifest.json").read_text())
    quantization = manifest["quantization"]
    assert quantization["fallback"]["layers"] == [layer]
    assert quantization["fallback"]["logits_sqnr_db_int8"][layer] is not None
    # the module path became the FP32 ONNX node name and then OpenVINO's name in NNCF's ignored scope
    (name,) = quantization["float_layers"]  # int8.float_logits is off by default: nothing else is float
    assert f"/{unqualified(layer)}/Conv" in name  # the exporter's scope of the layer, then OpenVINO's suffix
    verdict = json.loads((out / "ehanet_mbv2_cpu_int8" / "parity.json").read_text())["verdict"]
    assert verdict == ("passed" if fallback["status"] == "ok" else "failed")
    assert f"float: {layer}" in (out / "report.md").read_text()
