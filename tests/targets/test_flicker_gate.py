"""The deploy's flicker gate: a bundle whose flicker on the clip exceeds the FP32 reference's by more than
``flicker.max_increase_pts`` fails its row and its sealed verdict names the gate; within it, the row passes
and shows raw/smoothed flicker."""
from __future__ import annotations

import dataclasses

from edge.video.flicker_gate import ClipFlicker
from targets.config import FlickerCfg
from targets.pipeline import Job, Stages, check_bundle


def test_flicker_beyond_the_reference_fails_the_row_and_within_it_passes(deploy_inputs, kit, tmp_path):
    cfg = kit.tiny_cfg(flicker=FlickerCfg(max_increase_pts=0.3, frames=24))
    bundle_dir = kit.lower_to_bundle("onnx", "fp32", deploy_inputs, tmp_path / "work", tmp_path / "out", cfg)
    measured: list[ClipFlicker] = []

    def as_measured(bundle) -> ClipFlicker:  # the reference = the bundle's own flicker, taken on first use
        return measured[0]

    job, quiet = Job("onnx", "fp32"), Stages(4, lambda line: None)
    first = check_bundle(bundle_dir, job, cfg, quiet, lambda bundle: ClipFlicker(None, None, 0, 24))
    assert first.row.status == "ok" and first.row.flicker is not None  # no reference pixels: reported only
    own = ClipFlicker(first.row.flicker_raw_pct, first.row.flicker_smoothed_pct, 1, 24)
    measured.append(own)
    same = check_bundle(bundle_dir, job, cfg, quiet, as_measured)
    assert same.row.status == "ok"
    assert [c.value for c in same.parity.checks if c.name.startswith("Δflicker")] == [0.0, 0.0]

    measured[0] = dataclasses.replace(own, raw_pct=own.raw_pct - 1.0)  # a reference one point steadier
    worse = check_bundle(bundle_dir, job, cfg, quiet, as_measured)
    assert worse.row.status == "parity_failed" and "Δflicker raw" in worse.row.reason
    assert "Δflicker smoothed" not in worse.row.reason
