"""Report rows and their writers: each writer's output reads back to what was written."""
from __future__ import annotations

import dataclasses

import pytest

from edge.backends import open_runner
from edge.bundle import load_bundle
from edge.errors import ConfigError
from edge.parity import validate_bundle
from edge.report import (
    COLUMNS,
    HEADERS,
    BenchmarkRow,
    Report,
    format_markdown,
    format_table,
    make_row,
    mark_recommended,
    read_json,
    recommendation_lines,
    with_speedups,
    write_json,
    write_markdown,
    write_plot,
)

ROWS = [
    BenchmarkRow("onnxruntime", "fp32", "ok", 0.5, 92.91, 0.0, 0.0, 100.0, 1.25, 2.5, 790.0,
                 "worst class skin"),
    BenchmarkRow("openvino", "int8", "parity_failed", 0.2, 70.9, -21.97, -97.87, 98.4, 0.8, 1.9, 1200.0,
                 "over limit: ΔmIoU"),
    BenchmarkRow("tensorrt", "int8", "unavailable", reason="tensorrt not installed"),
    BenchmarkRow("openvino", "bf16", "ok", 7.8, 86.0, -0.1, -0.5, 99.6, 5.0, 6.0, 200.0, "worst class nose",
                 "bf16", "bf16", 2.0),
]


@pytest.fixture
def parity(make_bundle, tiny):
    bundle = load_bundle(make_bundle(tiny.perturbed, precision="int8"))
    with open_runner(bundle) as runner:
        return bundle, validate_bundle(bundle, runner)


def test_make_row_from_a_failed_parity(parity):
    bundle, result = parity
    row = make_row(bundle, parity=result)
    assert row.status == "parity_failed" and "worst-class ΔF1" in row.reason
    assert row.worst_class_delta_f1 == pytest.approx(result.worst_class.delta_f1_pts)
    assert row.latency_p50_ms is None and row.size_mb == pytest.approx(bundle.size_mb)


def test_unknown_status_is_rejected():
    with pytest.raises(ConfigError, match="unknown row status 'fine'"):
        BenchmarkRow("onnxruntime", "fp32", "fine")


def test_terminal_table_has_symbols_and_legend():
    lines = format_table(ROWS).splitlines()
    assert lines[0].split()[:5] == ["Format", "Precision", "Inference", "req/applied", "Status"]
    assert "✅ ok" in lines[1] and "❌ parity_failed" in lines[2] and "⚠ unavailable" in lines[3]
    assert lines[-1].startswith("✅ ok:") and "★" not in format_table(ROWS)  # no recommendation outside deploy


def test_rows_show_requested_and_applied_precision_and_speed_vs_the_fp32_row():
    rows = with_speedups([
        BenchmarkRow("openvino", "fp32", "ok", latency_p50_ms=10.0, inference_precision="f32",
                     applied_precision="f32"),
        BenchmarkRow("openvino", "bf16", "ok", latency_p50_ms=4.0, inference_precision="bf16",
                     applied_precision="bf16"),
        BenchmarkRow("openvino", "bf16", "skipped", inference_precision="bf16", reason="no native bf16"),
        BenchmarkRow("onnxruntime", "fp32", "ok", latency_p50_ms=5.0),
        BenchmarkRow("tensorrt", "int8", "unavailable"),
    ])
    assert [r.speedup_vs_fp32 for r in rows] == [1.0, 2.5, None, 1.0, None]
    lines = format_table(rows).splitlines()
    assert "bf16/bf16" in lines[2] and "2.50×" in lines[2]
    assert "bf16/-" in lines[3] and "⚠ skipped" in lines[3]
    assert "-/-" in lines[4]  # onnxruntime pins nothing


def _cpu_rows() -> list[BenchmarkRow]:
    """A cpu run whose int8 attempt failed and was replaced by a 2-layer fallback, plus a mobile run."""
    cpu = {"format": "openvino", "target": "cpu"}
    return [
        BenchmarkRow(precision="fp32", status="ok", latency_p50_ms=10.0, bundle="m_cpu_fp32", **cpu),
        BenchmarkRow(precision="bf16", status="ok", latency_p50_ms=6.0, bundle="m_cpu_bf16", **cpu),
        BenchmarkRow(precision="int8", status="parity_failed", latency_p50_ms=3.0, bundle="m_cpu_int8",
                     superseded=True, **cpu),
        BenchmarkRow(precision="int8", status="ok", latency_p50_ms=4.0, bundle="m_cpu_int8",
                     float_layers=("backbone.features.0.0", "head.classifier"), **cpu),
        BenchmarkRow("litert", "int8", "parity_failed", latency_p50_ms=1.0, target="mobile", bundle="m_mobile_int8"),
        BenchmarkRow("host:onnxruntime", "fp16", "ok", target="jetson", bundle="m_jetson_fp16"),
    ]


def test_the_fastest_row_that_passed_every_gate_is_recommended_per_target():
    rows = mark_recommended(_cpu_rows())
    assert [r.recommended for r in rows] == [False, False, False, True, False, False]  # not the superseded 3 ms
    lines = recommendation_lines(rows)
    assert lines[0] == ("★ cpu: m_cpu_int8 (openvino int8 +2 float, p50 4.00 ms) is the fastest bundle that passed "
                        "every gate; float layers: backbone.features.0.0, head.classifier")
    assert lines[1].startswith("★ mobile: no recommended bundle") and lines[2].startswith("★ jetson: no recommended")


def test_the_table_stars_the_recommended_row_and_marks_the_fallback_and_the_attempt_it_superseded():
    lines = format_table(mark_recommended(_cpu_rows()), recommend=True).splitlines()
    assert "❌ parity_failed, superseded" in lines[3] and "int8 +2 float" not in lines[3]
    assert lines[4].startswith("★ openvino") and "int8 +2 float" in lines[4] and "✅ ok" in lines[4]
    assert lines[7].startswith("★ cpu: m_cpu_int8") and lines[-1].startswith("★ recommended:")
    markdown = format_markdown(mark_recommended(_cpu_rows()), recommend=True)
    assert "| ★ openvino | int8 +2 float |" in markdown and "\n\n★ cpu: m_cpu_int8" in markdown


def test_a_superseded_row_and_its_float_layers_round_trip_through_json(tmp_path):
    rows = mark_recommended(_cpu_rows())
    back = read_json(write_json(tmp_path / "r.json", Report({}, {}, rows))).rows
    assert back == rows and back[3].float_layers == ("backbone.features.0.0", "head.classifier")


def test_json_round_trip(tmp_path):
    report = Report({"argv": ["edgeparse", "bench"]}, {"runner": {"threads": 2}}, ROWS, {"extra": [1, 2]})
    path = write_json(tmp_path / "sub" / "report.json", report)
    assert read_json(path) == report


def test_json_reader_names_a_foreign_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"a": 1}')
    with pytest.raises(ConfigError, match="not an edgeparse report"):
        read_json(path)


def _parse_markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_markdown_round_trip(tmp_path, parity):
    text = write_markdown(tmp_path / "r.md", ROWS, parity[1]).read_text()
    table = _parse_markdown_rows(text.split("\n\n")[0])
    assert table[0] == list(HEADERS)
    for row, cells in zip(ROWS, table[2:]):
        parsed = dict(zip(COLUMNS, cells))
        assert parsed["status"] == row.status and parsed["format"] == row.format
        assert parsed["miou"] == ("-" if row.miou is None else f"{row.miou:.2f}")
        assert parsed["reason"] == row.reason
    classes = _parse_markdown_rows(text.split("\n\n")[2])[2:]
    assert [c[0] for c in classes] == [c.name for c in parity[1].classes]
    assert classes[-1][-1] == "n/a" and classes[-1][2] == "n/a"


def test_markdown_is_stable():
    assert format_markdown(ROWS) == format_markdown([dataclasses.replace(r) for r in ROWS])


def test_plot_writes_a_png_with_both_panels(tmp_path, parity):
    import matplotlib.image as mpimg

    path = write_plot(tmp_path / "plot.png", ROWS, parity[1])
    pixels = mpimg.imread(path)
    assert pixels.shape[1] == 1200 and pixels.shape[0] == 400  # two 6x4-inch panels at 100 dpi
    assert pixels[..., :3].std() > 0.01  # something was drawn


def test_plot_needs_something_to_draw(tmp_path):
    with pytest.raises(ConfigError, match="nothing to plot"):
        write_plot(tmp_path / "p.png", [ROWS[2]])
