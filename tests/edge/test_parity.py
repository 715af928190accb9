"""Per-class parity: identical models pass, a model that erases a thin class fails even though
its max |Δlogit| is tiny and its pixel agreement is high."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.backends import open_runner
from edge.bundle import ParityThresholds, load_bundle
from edge.cli import main
from edge.data import FaceParsingReader, Sample
from edge.errors import BundleError, ConfigError
from edge.parity import check_verdict, format_parity_table, record_parity, validate_bundle, verdict_problem
from edge.preprocess import resize_image, resize_label


def _validate(path, **kwargs):
    bundle = load_bundle(path)
    with open_runner(bundle, threads=1) as runner:
        return validate_bundle(bundle, runner, **kwargs)


def test_identical_model_passes_every_gate(make_bundle, tiny):
    result = _validate(make_bundle())
    assert result.passed
    assert result.agreement_pct == 100.0 and result.delta_miou_pts == 0.0
    assert result.max_abs_logit_delta < 0.02  # float16 storage of the reference logits
    statuses = {c.name: c.status for c in result.classes}
    assert statuses.pop("hat") == "n/a"  # absent from GT and both predictions: not a pass
    assert set(statuses.values()) == {"pass"}
    assert result.num_images == len(tiny.images)


def test_erased_thin_class_fails_although_max_logit_error_is_small(make_bundle, tiny):
    result = _validate(make_bundle(tiny.perturbed, precision="int8"))
    thin = result.classes[tiny.thin_class]
    assert result.max_abs_logit_delta < 0.2, "max |Δlogit| alone would call this model fine"
    assert result.agreement_pct >= 98.0, "so would the pixel agreement"
    assert thin.candidate_pixels == 0 and thin.reference_pixels > 0
    assert thin.status == "fail" and thin.delta_f1_pts < -50
    assert result.worst_class == thin
    checks = {c.name: c.passed for c in result.checks}
    assert checks == {"ΔmIoU": False, "worst-class ΔF1": False, "pixel agreement": True,
                      "max |Δlogit|": None}
    assert not result.passed
    assert "earring" in [c.name for c in result.classes if c.status == "fail"]


def test_thresholds_from_the_manifest_can_be_overridden(make_bundle, tiny):
    loose = ParityThresholds(max_delta_miou_pts=100, max_class_delta_f1_pts=100, min_agreement_pct=90)
    assert _validate(make_bundle(tiny.perturbed), thresholds=loose).passed
    assert _validate(make_bundle(tiny.perturbed, thresholds=loose)).passed


def test_table_marks_rows_and_verdict(make_bundle, tiny):
    table = format_parity_table(_validate(make_bundle(tiny.perturbed)))
    earring = next(line for line in table.splitlines() if " earring " in line)
    hat = next(line for line in table.splitlines() if " hat " in line)
    assert earring.endswith("❌") and hat.endswith("n/a")
    assert "parity FAILED" in table and "max |Δlogit|" in table


def test_to_dict_is_json_ready(make_bundle, tiny):
    data = json.loads(json.dumps(_validate(make_bundle(tiny.perturbed)).to_dict(), allow_nan=False))
    assert data["passed"] is False
    assert data["classes"][tiny.absent_class]["delta_f1_pts"] is None


class _MemoryReader(FaceParsingReader):
    """Samples held in memory at another size than the model input, to exercise the resize path."""

    layout = "in memory"

    def __init__(self, root, samples, schema):
        self._samples, self.schema = samples, schema
        super().__init__(root, "val")

    def _list_names(self):
        return [s.name for s in self._samples]

    def _read(self, name):
        return next(s for s in self._samples if s.name == name)


def _reader(tmp_path, tiny):
    size = (40, 48)
    samples = [Sample(resize_image(im, size), resize_label(lab, size), f"s{i}")
               for i, (im, lab) in enumerate(zip(tiny.images, tiny.labels))]
    return _MemoryReader(tmp_path, samples, tiny.schema)


@pytest.mark.parametrize("candidate, passed", [("reference", True), ("perturbed", False)])
def test_dataset_mode_uses_a_reference_runner(make_bundle, tiny, tmp_path, candidate, passed):
    bundle = load_bundle(make_bundle(getattr(tiny, candidate), name=candidate))
    reference_bundle = load_bundle(make_bundle(name="fp32"))
    with open_runner(bundle) as runner, open_runner(reference_bundle) as reference:
        result = validate_bundle(bundle, runner, data=_reader(tmp_path, tiny), reference=reference)
    assert result.passed is passed
    assert result.num_images == len(tiny.images)
    assert math.isfinite(result.max_abs_logit_delta)
    assert (result.max_abs_logit_delta == 0.0) is passed  # compared in float32 on every image


def test_dataset_mode_without_reference_is_a_config_error(make_bundle, tiny, tmp_path):
    with pytest.raises(ConfigError, match="needs a reference runner"):
        _validate(make_bundle(), data=_reader(tmp_path, tiny))


def test_validate_command_exit_codes_and_reports(make_bundle, tiny, tmp_path, capsys):
    assert main(["validate", str(make_bundle()), "--threads", "1"]) == 0
    assert "parity PASSED" in capsys.readouterr().out
    bad = make_bundle(tiny.perturbed, precision="int8")
    out_json, out_md, out_png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png"
    code = main(["validate", str(bad), "--json", str(out_json), "--markdown", str(out_md),
                 "--plot", str(out_png)])
    assert code == 1
    assert "parity FAILED" in capsys.readouterr().out  # the table is printed before the exit
    report = json.loads(out_json.read_text())
    assert set(report) == {"command", "settings", "results"}
    assert report["results"]["rows"][0]["status"] == "parity_failed"
    assert report["settings"]["runner"]["backend"] == "onnxruntime"
    assert "| earring |" in out_md.read_text() and out_png.read_bytes()[:4] == b"\x89PNG"
    assert main(["validate", str(bad), "max_class_delta_f1_pts=100", "max_delta_miou_pts=100"]) == 0
    assert main(["validate", str(bad), "max_delta_miou=100"]) == 2
    assert "unknown config key 'max_delta_miou'" in capsys.readouterr().err


def test_validate_command_rejects_a_bad_data_spec(make_bundle, capsys):
    path = str(make_bundle())
    with pytest.raises(SystemExit):  # argparse's usage error, exit status 2
        main(["validate", path, "--data", "nocolon"])
    assert "expected FORMAT:PATH" in capsys.readouterr().err
    assert main(["validate", path, "--reference", path]) == 2
    assert "--reference is used only with --data" in capsys.readouterr().err


def test_perturbation_is_below_typical_int8_logit_noise(tiny):
    """Guards the fixture: the point of the test above needs a perturbation far below the
    1.5-4 max |Δlogit| INT8 models show while still passing parity (docs/design.md#parity-limits)."""
    assert 0 < tiny.perturbation < 0.2
    assert np.count_nonzero(tiny.reference_logits.argmax(1) == tiny.thin_class) > 0


# --- a bundle knows whether it passed: the sealed verdict, warnings and --strict ----------------------------

def _sealed(make_bundle, model, precision="fp32"):
    bundle = load_bundle(make_bundle(model, precision=precision))
    with open_runner(bundle) as runner:
        return record_parity(bundle, validate_bundle(bundle, runner), "pytest")


def test_the_verdict_of_a_failed_bundle_names_the_failed_gate(make_bundle, tiny):
    bundle = _sealed(make_bundle, tiny.perturbed, "int8")
    assert bundle.parity.verdict == "failed"
    assert "worst-class ΔF1" in bundle.parity.summary["failed_checks"]
    problem = verdict_problem(load_bundle(bundle.path))
    assert "FAILED parity" in problem and "worst-class ΔF1" in problem and "rebuild it with" in problem


def test_check_verdict_warns_or_refuses_failed_and_unvalidated_bundles(make_bundle, tiny, caplog):
    passed = _sealed(make_bundle, tiny.reference)
    assert check_verdict(passed, strict=True) is None
    for bundle, words in ((load_bundle(make_bundle(name="fresh")), "never validated"),
                          (_sealed(make_bundle, tiny.perturbed, "int8"), "FAILED parity")):
        with caplog.at_level("WARNING"):
            assert words in check_verdict(bundle)
        assert words in caplog.text
        with pytest.raises(BundleError, match=f"--strict refuses this bundle: .*{words}"):
            check_verdict(bundle, strict=True)


def test_a_pass_recorded_for_another_file_of_the_bundle_only_warns(make_bundle, tiny):
    """A jetson bundle checked on the host (its ONNX) then run as an engine: warned about, not refused."""
    path = make_bundle([tiny.reference, tiny.perturbed])
    bundle = load_bundle(path)
    with open_runner(bundle) as runner:
        result = validate_bundle(bundle, runner)
    sealed = record_parity(bundle, result, "pytest", model=path / tiny.perturbed.name, backend="onnxruntime-qdq",
                           host_side=True)
    problem = check_verdict(load_bundle(sealed.path), strict=True)
    assert "passed parity on the build host with onnxruntime-qdq" in problem
    assert tiny.reference.name in problem  # the file the bundle runs


@pytest.mark.parametrize("command", [["validate"], ["bench", "--runs", "2", "--warmup", "0"]])
def test_commands_warn_about_an_unvalidated_bundle_and_strict_refuses_it_in_one_line(make_bundle, tiny, capsys,
                                                                                    caplog, command):
    fresh = make_bundle()
    with caplog.at_level("WARNING"):
        assert main([command[0], str(fresh), *command[1:], "--threads", "1"]) == 0
    assert "was never validated" in caplog.text
    capsys.readouterr()
    assert main([command[0], str(fresh), *command[1:], "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--strict refuses this bundle" in err and "never validated" in err
    passed = _sealed(make_bundle, tiny.reference)
    assert main([command[0], str(passed.path), *command[1:], "--threads", "1", "--strict"]) == 0
