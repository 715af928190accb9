"""The format table, the target registry and the deploy config agree with each other."""
from __future__ import annotations

import dataclasses

import pytest

from edge.config import load_config
from edge.errors import ConfigError, UnknownNameError, UnsupportedError
from targets import TARGET_MODULES, load_target
from targets.config import (
    DEFAULT_CONFIG,
    DeployCfg,
    PrecisionThresholds,
    TargetPrecisions,
    load_deploy_config,
)
from targets.formats import PRECISIONS, export_formats, find_format, list_targets, target_spec
from targets.pipeline import Job, plan_jobs


def test_registry_covers_every_target_of_the_format_table():
    assert list(TARGET_MODULES) == list_targets() == ["onnx", "cpu", "mobile", "jetson"]


@pytest.mark.parametrize("target", ["onnx", "cpu", "mobile"])
def test_target_module_spec_is_its_rows_of_the_table(target):
    module = load_target(target)
    assert module.SPEC == target_spec(target)
    rows = [f for f in export_formats() if f.target == target]
    assert module.SPEC.precisions == tuple(f.precision for f in rows)
    assert {f.backend for f in rows} == {module.SPEC.backend}


def test_every_precision_of_the_table_is_in_the_vocabulary_and_has_parity_limits():
    assert {f.precision for f in export_formats()} <= set(PRECISIONS)
    assert [f.name for f in dataclasses.fields(PrecisionThresholds)] == list(PRECISIONS)


def test_every_backend_and_host_check_of_the_table_has_a_runner():
    from edge.backends import BACKENDS

    assert {f.backend for f in export_formats()} | {f.host_check for f in export_formats() if f.host_check} \
        <= set(BACKENDS)


def test_deploy_defaults_build_every_precision_of_each_target():
    assert [f.name for f in dataclasses.fields(TargetPrecisions)] == list_targets()
    for target in list_targets():
        assert DeployCfg().precisions.of(target) == target_spec(target).precisions


def test_every_row_pins_an_inference_precision_its_backend_can_apply():
    """cpu rows pin their arithmetic (OpenVINO's default is bf16 on bf16 CPUs); other backends pin none."""
    from edge.backends import runner_class

    for f in export_formats():
        assert (f.inference_precision is None) == (not runner_class(f.backend).inference_precisions), f
        assert f.inference_precision in (None, *runner_class(f.backend).inference_precisions), f
    pinned = {f.precision: f.inference_precision for f in export_formats() if f.target == "cpu"}
    assert pinned == {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


def test_unknown_target_suggests_the_close_name():
    with pytest.raises(UnknownNameError, match="'cpu'"):
        load_target("cpux")


def test_a_missing_target_module_is_unsupported_not_a_crash(monkeypatch):
    monkeypatch.setitem(TARGET_MODULES, "jetson", "targets.no_such_module")
    with pytest.raises(UnsupportedError, match="not part of this install"):
        load_target("jetson")


def test_unsupported_precision_names_what_the_target_builds():
    assert find_format("cpu", "int8").backend == "openvino"
    with pytest.raises(UnsupportedError, match="supports fp32"):
        find_format("onnx", "int8")


def test_unsupported_precision_in_lower_raises_before_building(tmp_path):
    from targets.base import LowerRequest

    request = LowerRequest("onnx", "fp16", tmp_path / "missing.onnx", None, list, tmp_path / "c.pt", tmp_path,
                           "m_onnx_fp16", DeployCfg())
    with pytest.raises(UnsupportedError, match="no 'fp16' build"):
        load_target("onnx").lower(request)
    assert list(tmp_path.iterdir()) == []


def test_default_yaml_is_the_built_in_defaults():
    assert load_deploy_config(DEFAULT_CONFIG) == DeployCfg() == load_deploy_config(None)


def test_config_rejects_unknown_keys_and_unsupported_precisions():
    with pytest.raises(ConfigError, match="did you mean|Did you mean"):
        load_deploy_config(None, ["validation_image=3"])
    with pytest.raises(UnsupportedError, match="precisions.onnx"):
        load_deploy_config(None, ["precisions.onnx=[int8]"])
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_config(DeployCfg, None, ["input_size=100"])


def test_int8_source_resolution():
    assert DeployCfg().int8.cpu_source() == "nncf"
    assert load_deploy_config(None, ["int8.qdq_onnx=q.onnx"]).int8.cpu_source() == "qdq"
    with pytest.raises(ConfigError, match="needs int8.qdq_onnx"):
        load_deploy_config(None, ["int8.source=qdq"]).int8.cpu_source()
    with pytest.raises(ConfigError, match="would ignore it"):
        load_deploy_config(None, ["int8.source=nncf", "int8.qdq_onnx=q.onnx"]).int8.cpu_source()


def test_mobile_int8_source_resolution():
    assert DeployCfg().int8.mobile_int8_source() == "aeq"
    assert load_deploy_config(None, ["int8.litert_checkpoint=q.pt"]).int8.mobile_int8_source() == "pt2e"
    assert load_deploy_config(None, ["int8.mobile_source=pt2e"]).int8.mobile_int8_source() == "pt2e"
    with pytest.raises(ConfigError, match="would ignore it"):
        load_deploy_config(None, ["int8.mobile_source=aeq", "int8.litert_checkpoint=q.pt"]).int8.mobile_int8_source()


def test_plan_jobs_filters_by_precision_and_rejects_what_one_target_lacks():
    cfg = DeployCfg()
    assert plan_jobs(["cpu"], cfg) == [Job("cpu", p) for p in ("fp32", "fp16", "bf16", "int8")]
    with pytest.raises(UnsupportedError, match="no 'bf16' build"):
        plan_jobs(["mobile"], cfg, ["bf16"])
    assert plan_jobs(["cpu"], cfg, ["fp32", "int8"]) == [Job("cpu", "fp32"), Job("cpu", "int8")]
    everything = plan_jobs(list_targets(), cfg, ["int8"])
    assert [j.target for j in everything] == ["cpu", "mobile", "jetson"]
    with pytest.raises(UnsupportedError, match="no 'int8' build"):
        plan_jobs(["onnx"], cfg, ["int8"])
