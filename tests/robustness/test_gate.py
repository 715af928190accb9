"""No bad bundle gets past the parity gate (issue 13, gate bypasses).

Each planted bug is run through ``edgeparse validate`` (or the call it makes) on the tiny torch-free
bundle of tests/conftest.py: the exit code, the one-line error naming the file or key and the fix,
and for the numeric gates which row fails.
"""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

from edge.backends import open_runner
from edge.bundle import MANIFEST_FILE, load_bundle
from edge.cli import main
from edge.errors import ConfigError, NonFiniteOutputError
from edge.parity import load_reference_bundle, record_parity, validate_bundle
from targets.config import PrecisionThresholds, load_deploy_config

FP32 = PrecisionThresholds().fp32  # the deploy defaults: 0.1 / 0.5 / 99.9 and max |Δlogit| 0.01


def _sealed(path):
    """Validate a bundle against its own reference answers and seal the verdict, as deploy does."""
    bundle = load_bundle(path)
    with open_runner(bundle, threads=1) as runner:
        return record_parity(bundle, validate_bundle(bundle, runner), "pytest")


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _edit_manifest(path, edit) -> None:
    data = json.loads((path / MANIFEST_FILE).read_text())
    edit(data)
    (path / MANIFEST_FILE).write_text(json.dumps(data, indent=2))


LOOSE = {"max_delta_miou_pts": 50.0, "max_class_delta_f1_pts": 50.0, "min_agreement_pct": 50.0}
PLAIN = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # no ImageNet normalisation: garbage in


@pytest.mark.parametrize("case, edit, named", [
    ("loosened limits and a wrong normalisation (the issue's -1.3 mIoU pass)",
     lambda d: (d.update(parity_thresholds=LOOSE), d["input"].update(normalization=PLAIN)),
     "the verdict was reached with thresholds"),
    ("a wrong normalisation", lambda d: d["input"].update(normalization=PLAIN),
     "input.normalization.mean, input.normalization.std changed after the parity verdict was sealed"),
    ("another class colour", lambda d: d["schema"]["colors"].__setitem__(1, [1, 2, 3]),
     "schema.colors changed after the parity verdict was sealed"),
    ("another precision", lambda d: d.update(precision="int8"),
     "precision changed after the parity verdict was sealed"),
    ("another source checkpoint", lambda d: d["source_checkpoint"].update(sha256="0" * 64),
     "source_checkpoint.sha256 changed after the parity verdict was sealed"),
    ("the verdict unhooked", lambda d: d.update(parity_sha256=None),
     "names no sealed parity verdict (parity_sha256 is null"),
])
def test_editing_what_the_verdict_depends_on_is_refused_as_tampering(make_bundle, capsys, case, edit, named):
    path = _sealed(make_bundle()).path
    _edit_manifest(path, edit)
    assert main(["validate", str(path)]) == 1, case
    error = _error(capsys)
    assert named in error and str(path) in error, error
    assert error.endswith("rebuild the bundle with: pytest make_bundle tiny onnx fp32")


def test_fields_outside_the_gate_may_change(make_bundle):
    """Notes and the build command do not change a verdict: editing them is no tampering."""
    path = _sealed(make_bundle()).path
    _edit_manifest(path, lambda d: d.update(notes="moved to another host", build_command="make again"))
    assert load_bundle(path).parity.verdict == "passed"


@pytest.mark.parametrize("override, message", [
    ("min_agreement_pct=0.999", ("min_agreement_pct=0.999 looks like a fraction, but the agreement is a "
                                "percentage (as the tables print it): did you mean min_agreement_pct=99.9?")),
    ("min_agreement_pct=1", ("min_agreement_pct=1 looks like a fraction, but the agreement is a percentage (as the "
                            "tables print it): did you mean min_agreement_pct=100?")),
    ("min_agreement_pct=120", "min_agreement_pct=120: the agreement is a percentage from 0 to 100"),
    ("max_delta_miou_pts=-1", ("max_delta_miou_pts=-1: a limit is the largest drop allowed, in percentage points "
                              "from 0 to 100; did you mean max_delta_miou_pts=1?")),
])
def test_a_limit_in_the_wrong_unit_is_refused_in_one_line(make_bundle, capsys, override, message):
    path = make_bundle()
    assert main(["validate", str(path), override]) == 2
    error = _error(capsys)
    assert error.startswith("edgeparse: error: ") and error.endswith(message), error


def test_the_deploy_config_takes_the_agreement_in_percent_too():
    with pytest.raises(ConfigError, match="did you mean min_agreement_pct=99.9"):
        load_deploy_config(None, ["thresholds.fp32.min_agreement_pct=0.999"])
    assert load_deploy_config(None).thresholds.fp32 == FP32


def test_the_validate_reference_must_be_the_fp32_bundle_of_the_same_checkpoint(make_bundle, tiny, tmp_path,
                                                                                capsys):
    candidate = make_bundle(tiny.perturbed, precision="int8", name="cand")
    other = tmp_path / "other.pt"
    other.write_bytes(b"another checkpoint")
    cases = {
        candidate: "it is the candidate itself, which agrees with itself whatever it computes",
        _sealed(make_bundle(precision="fp16", name="half")).path: "it is not an FP32 bundle but fp16",
        _sealed(make_bundle(name="other", checkpoint=other)).path: "it was built from another checkpoint",
        make_bundle(name="unchecked"): "was never validated against its FP32 reference",
    }
    for reference, why in cases.items():
        # refused before the dataset is opened: none is needed to show it
        assert main(["validate", str(candidate), "--data", f"folder:{tmp_path}", "--reference",
                     str(reference)]) == 2
        error = _error(capsys)
        assert error.startswith(f"edgeparse: error: --reference {reference}: ") and why in error, error
        assert error.endswith("give the FP32 bundle built from the candidate's checkpoint (edgeparse deploy "
                              "--target onnx writes <model>_onnx_fp32)")
    good = _sealed(make_bundle(name="fp32")).path
    assert load_reference_bundle(good, load_bundle(candidate)).path == good


def test_an_artifact_linked_outside_the_bundle_is_refused(make_bundle, tiny, tmp_path, capsys):
    path = make_bundle()
    model = path / tiny.reference.name
    outside = tmp_path / "elsewhere.onnx"
    model.replace(outside)
    model.symlink_to(outside)  # same bytes, so the checksum alone would pass it
    assert main(["validate", str(path)]) == 1
    assert _error(capsys).startswith(f"edgeparse: error: {model} is a link to {outside}, outside the bundle; "
                                     f"copy the file in; rebuild the bundle with: ")


def _fp32_checks(bundle_dir, thresholds=FP32):
    bundle = load_bundle(bundle_dir)
    with open_runner(bundle, threads=1) as runner:
        result = validate_bundle(bundle, runner, thresholds=thresholds)
    return result, {c.name: c for c in result.checks}


def test_1e3_noise_on_the_convolution_fails_the_fp32_gate_on_its_logits(make_bundle, tiny, onnx_builder, tmp_path):
    """1e-3 noise on the weights moves max |Δlogit| far beyond the fp32 limit, which the float16 rounding
    of the stored reference logits alone never reaches (the unperturbed bundle passes the same gate)."""
    exact, checks = _fp32_checks(make_bundle(thresholds=FP32))
    assert exact.passed and checks["max |Δlogit|"].passed is True and checks["max |Δlogit|"].limit == "<= 0.01"
    noise = np.random.default_rng(0).normal(0, 1e-3, tiny.weight.shape).astype(np.float32)
    noisy = onnx_builder(tmp_path / "noisy.onnx", tiny.weight + noise, tiny.bias)
    result, checks = _fp32_checks(make_bundle(noisy, thresholds=FP32, name="noisy"))
    assert not result.passed and checks["max |Δlogit|"].passed is False
    assert result.max_abs_logit_delta > 0.02  # the raw Δ; the gate allows the float16 rounding on top


def test_the_logit_limit_catches_noise_no_argmax_shows(make_bundle, tiny, onnx_builder, tmp_path):
    """Noise on the filter of the class the model never predicts (its logits sit near -20, where float16
    rounding alone is 0.01, hence 1e-2 here): every pixel keeps its argmax, so ΔmIoU, ΔF1 and the agreement
    pass, and only max |Δlogit| tells that the model is not the one validated."""
    weight = tiny.weight.copy()
    weight[tiny.absent_class] += np.random.default_rng(0).normal(0, 1e-2, weight.shape[1:]).astype(np.float32)
    bundle_dir = make_bundle(onnx_builder(tmp_path / "hat.onnx", weight, tiny.bias), thresholds=FP32, name="hat")
    result, checks = _fp32_checks(bundle_dir)
    assert [name for name, check in checks.items() if check.passed is False] == ["max |Δlogit|"]
    assert result.agreement_pct == 100.0
    assert _fp32_checks(bundle_dir, dataclasses.replace(FP32, max_abs_logit_delta=None))[0].passed  # without it


@pytest.fixture
def inf_bundle(make_bundle, tiny, onnx_builder, tmp_path):
    """The never-predicted class gets a -inf bias: its logits are -inf, and NaN where the resize weighs one
    by 0."""
    bias = tiny.bias.copy()
    bias[tiny.absent_class] = -np.inf
    return make_bundle(onnx_builder(tmp_path / "inf.onnx", tiny.weight, bias), name="inf")


def test_nan_or_inf_in_a_runner_output_fails_the_gate_and_stops_inference(inf_bundle, tiny):
    """Every output is checked: the gate fails naming how many images gave NaN/Inf, inference stops."""
    bundle = load_bundle(inf_bundle)
    with open_runner(bundle, threads=1) as runner:
        result = validate_bundle(bundle, runner)
        with pytest.raises(NonFiniteOutputError, match=r"inf\.onnx: output 'logits' holds \d+ NaN/Inf values of"):
            runner.infer(np.zeros((1, 3, tiny.size, tiny.size), np.float32))
    assert result.non_finite_images == len(tiny.images)
    logit = {c.name: c for c in result.checks}["max |Δlogit|"]
    assert not result.passed and logit.passed is False
    assert logit.detail == f"{len(tiny.images)} of {len(tiny.images)} images gave NaN/Inf logits"


def test_deploy_fails_the_row_of_a_bundle_with_nan_outputs_and_times_nothing(inf_bundle):
    from targets.config import BenchCfg, DeployCfg
    from targets.pipeline import Job, Stages, check_bundle

    cfg = DeployCfg(input_size=32, bench=BenchCfg(warmup=0, runs=1, threads=1))
    outcome = check_bundle(inf_bundle, Job("onnx", "fp32"), cfg, Stages(2, lambda line: None))
    assert outcome.row.status == "parity_failed" and "max |Δlogit|" in outcome.row.reason
    assert outcome.bench is None and outcome.row.latency_p50_ms is None


def test_a_checkpoint_with_a_flipped_bit_is_refused(tiny_lapa_checkpoint, tmp_path, capsys):
    import torch

    from training.checkpoint import load_checkpoint

    weight = max(torch.load(tiny_lapa_checkpoint, weights_only=True)["state_dict"].values(), key=torch.numel)
    data = bytearray(tiny_lapa_checkpoint.read_bytes())
    at = data.find(weight.numpy().tobytes()) + weight.numel() * 2  # a weight in the middle of the tensor
    assert at > weight.numel() * 2
    data[at] ^= 0x04  # one mantissa bit: the value stays finite and plausible
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    assert main(["deploy", "--target", "onnx", "--checkpoint", str(flipped), "--out", str(tmp_path / "b"),
                 "input_size=64"]) == 1
    assert _error(capsys) == (f"edgeparse: error: {flipped}: its contents differ from the checksum recorded when "
                              f"it was saved (a flipped bit, a bad copy or an edit); copy it again, or use an "
                              f"earlier one")
    assert not (tmp_path / "b" / "ehanet_mbv2_onnx_fp32").exists()
    load_checkpoint(tiny_lapa_checkpoint)  # the intact file loads


def test_a_checkpoint_saved_before_checksums_loads_with_a_warning(tiny_lapa_checkpoint, tmp_path, caplog):
    import torch

    from training.checkpoint import CHECKSUM_KEY, load_checkpoint

    payload = torch.load(tiny_lapa_checkpoint, weights_only=True)
    del payload[CHECKSUM_KEY]
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(old)["model_name"] == "ehanet_mbv2"
    assert f"{old} carries no checksum (saved before edgeparse recorded one)" in caplog.text
