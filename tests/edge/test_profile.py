"""``edgeparse bench --profile``: per-layer counters grouped by part and op type, MACs from the backend's
shapes (the structure of the output on a tiny bundle; no timing is asserted)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edge.backends import open_runner
from edge.backends.base import TensorSpec
from edge.backends.litert import LiteRtRunner
from edge.backends.ort import kernel_times
from edge.cli import main
from edge.errors import ConfigError, UnsupportedError
from edge.profile import OTHER_PART, LayerTime, Profile, format_profile, part_of

# The tiny model: Conv(3→6, 3×3, stride 2) to 16×16, then Resize ×2.
CONV_MACS = 6 * 16 * 16 * 3 * 3 * 3


@pytest.fixture(scope="module")
def scoped_onnx(tiny, tmp_path_factory):
    """The tiny ONNX with the legacy exporter's names: a backbone conv (node and output tensor scoped) and
    the final resize, whose output is the graph's ``logits``."""
    import onnx

    model = onnx.load(str(tiny.reference))
    conv, resize = model.graph.node
    conv.name, resize.name = "/backbone/stem/Conv", "/Resize"
    conv.output[0] = resize.input[0] = "/backbone/stem/Conv_output_0"
    path = tmp_path_factory.mktemp("scoped") / "tiny_scoped.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("name, part", [
    ("/backbone/features.3/conv/conv.1/conv.1.0/Conv/WithoutBiases", "backbone"),
    ("/neck/Add_2/fq_output_0", "neck"),
    ("input_abcd_acdb_/backbone/features.0/features.0.0/Conv/WithoutBiases", "backbone"),  # a reorder: its consumer's
    ("logits_acdb_abcd_logits/sink_port_0", OTHER_PART),
    ("/Concat", OTHER_PART),
    ("Multiply_39107", OTHER_PART),
])
def test_part_is_the_top_level_module_scope(name, part):
    assert part_of(name) == part


def test_groups_share_time_and_report_achieved_gflops():
    layers = (LayerTime("/backbone/a/Conv", "Convolution", "k", 2.0, 4_000_000),
              LayerTime("/backbone/b/Conv", "GroupConvolution", "k", 1.0, 1_000_000),
              LayerTime("/head/Resize", "Interpolate", "k", 1.0),
              LayerTime("logits_reorder", "Reorder", "k", 4.0))
    profile = Profile("fake", 3, 8.5, layers)
    parts = {g.key: g for g in profile.by_part()}
    assert [g.key for g in profile.by_part()] == [OTHER_PART, "backbone", "head"]  # slowest first
    assert parts["backbone"].layers == 2 and parts["backbone"].ms == 3.0 and parts["backbone"].share == 3 / 8
    assert parts["backbone"].gflops == pytest.approx(2 * 5e6 / 3e6)  # 2 FLOP per MAC over 3 ms
    assert parts["head"].gflops == 0.0
    assert sum(g.share for g in profile.by_op_type()) == pytest.approx(1.0)
    text = format_profile(profile, top=2)
    assert "by part" in text and "by op type" in text and "logits_reorder" in text
    assert json.loads(json.dumps(profile.to_dict()))["by_part"][1]["gflops"] == pytest.approx(10 / 3)


def test_ort_trace_gives_median_of_the_last_runs_and_conv_macs():
    def event(name, dur, op="Conv"):
        return {"cat": "Node", "name": f"{name}_kernel_time", "dur": dur,
                "args": {"op_name": op, "provider": "CPUExecutionProvider",
                         "input_type_shape": [{"float": [1, 3, 32, 32]}, {"float": [6, 3, 3, 3]}],
                         "output_type_shape": [{"float": [1, 6, 16, 16]}]}}
    warmup = [event("/backbone/Conv", 9000)]
    trace = warmup + [event("/backbone/Conv", d) for d in (1000, 3000, 2000)] + [
        {"cat": "Session", "name": "model_run", "dur": 5}, event("/head/Resize", 500, op="Resize")]
    layers = {layer.name: layer for layer in kernel_times(trace, runs=3)}
    assert layers["/backbone/Conv"].ms == 2.0  # median of the last 3, the warm-up dropped
    assert layers["/backbone/Conv"].macs == CONV_MACS and layers["/head/Resize"].macs == 0


@pytest.mark.parametrize("backend, target", [("onnxruntime", "onnx"), ("openvino", "cpu")])
def test_runner_profiles_every_part_with_macs(make_bundle, scoped_onnx, tiny, backend, target):
    pytest.importorskip("openvino" if backend == "openvino" else "onnxruntime")
    bundle = make_bundle(scoped_onnx, backend=backend, target=target,
                         inference_precision="f32" if backend == "openvino" else None)
    x = np.zeros((1, 3, tiny.size, tiny.size), np.float32)
    with open_runner(bundle, threads=1, profiling=True) as runner:
        profile = runner.profile(x, runs=4, warmup=1)
    parts = {g.key: g for g in profile.by_part()}
    assert set(parts) == {"backbone", OTHER_PART}  # the final resize to the input size is outside every module
    # onnxruntime's NCHWc kernels report the conv with its channels padded to the vector block
    assert parts["backbone"].macs == profile.macs and (profile.macs == CONV_MACS if backend == "openvino"
                                                       else profile.macs >= CONV_MACS)
    assert sum(g.share for g in parts.values()) == pytest.approx(1.0)
    assert profile.runs == 4 and profile.wall_ms > 0 and all(layer.ms >= 0 for layer in profile.layers)


def test_profile_needs_profiling_on(make_bundle, tiny):
    with open_runner(make_bundle(), threads=1) as runner, pytest.raises(ConfigError, match="profiling=True"):
        runner.profile(np.zeros((1, 3, tiny.size, tiny.size), np.float32), runs=1)


def test_litert_says_why_it_cannot_profile(tmp_path):
    with pytest.raises(UnsupportedError, match="benchmark_model"):
        LiteRtRunner(tmp_path / "m.tflite", TensorSpec("input", (1, 3, 8, 8)), profiling=True)


def test_bench_profile_prints_and_writes_the_groups(make_bundle, scoped_onnx, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", str(make_bundle(scoped_onnx)), "--runs", "3", "--warmup", "1", "--threads", "1",
                 "--e2e-size", "24x40", "--profile", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "by part" in printed and "GFLOP/s" in printed and "/backbone/stem/Conv" in printed
    profile = json.loads(out.read_text())["results"]["profile"]
    assert profile["runs"] == 3 and {row["key"] for row in profile["by_part"]} == {"backbone", OTHER_PART}
