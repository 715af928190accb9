"""One row per (format, precision) with accuracy, parity and speed, and its writers.

Writers: a terminal table with a legend, JSON in three blocks (command, applied settings,
results; as benchmark_app's statistics report), a markdown table and a PNG plot.
Statuses are words in files (``ok``, ``parity_failed``...) and symbols in the terminal.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bench import BenchResult
from edge.bundle import Bundle
from edge.errors import ConfigError
from edge.io import atomic_write_text, atomic_write_with, json_safe
from edge.parity import ParityResult

STATUSES = ("ok", "parity_failed", "export_failed", "unavailable", "skipped")
SYMBOLS = {"ok": "✅", "parity_failed": "❌", "export_failed": "❌",
           "unavailable": "⚠", "skipped": "⚠"}
LEGEND = ("✅ ok: parity within limits  ❌ parity_failed / export_failed  "
          "⚠ unavailable (backend not installed) / skipped;  Δ = candidate − FP32 reference, in points")
DEPLOY_LEGEND = ("★ recommended: the fastest bundle of its target that passed every gate;  int8 +k float: the "
                 "mixed-precision fallback, k layers kept float;  superseded: an attempt the fallback replaced")
STAR = "★"
COLUMNS = ("format", "precision", "inference", "status", "size_mb", "miou", "delta_miou",
           "worst_class_delta_f1", "agreement_pct", "flicker", "latency_p50_ms", "latency_p99_ms", "fps",
           "speedup_vs_fp32", "reason")
HEADERS = ("Format", "Precision", "Inference req/applied", "Status", "Size MB", "mIoU", "ΔmIoU",
           "worst ΔF1", "Agree %", "Flicker raw/sm %", "p50 ms", "p99 ms", "FPS", "× fp32", "Reason")


@dataclass(frozen=True)
class BenchmarkRow:
    """Scores in %, deltas in percentage points; None where not measured.

    ``inference_precision`` is the arithmetic the bundle asks its backend for (manifest) and
    ``applied_precision`` what the backend reported back; ``speedup_vs_fp32`` is the p50 latency
    of the same format's fp32 row divided by this row's (> 1: faster)."""

    format: str
    precision: str
    status: str
    size_mb: float | None = None
    miou: float | None = None
    delta_miou: float | None = None
    worst_class_delta_f1: float | None = None
    agreement_pct: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    fps: float | None = None
    reason: str = ""
    inference_precision: str | None = None
    applied_precision: str | None = None
    speedup_vs_fp32: float | None = None
    target: str | None = None
    bundle: str | None = None  # the bundle folder's name
    float_layers: tuple[str, ...] = ()  # layers the mixed-precision fallback kept float (torch module paths)
    superseded: bool = False  # a failed attempt whose bundle the fallback replaced: it fails nothing
    recommended: bool = False  # the fastest bundle of its target that passed every gate
    flicker_raw_pct: float | None = None  # on the deploy's clip (edge.video.flicker_gate), raw labels
    flicker_smoothed_pct: float | None = None  # the same with the demo's temporal smoothing

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ConfigError(f"unknown row status {self.status!r}; valid: {', '.join(STATUSES)}")
        object.__setattr__(self, "float_layers", tuple(self.float_layers))  # a JSON list when read back

    @property
    def variant(self) -> str:
        """The precision as the table shows it: ``int8 +2 float`` for a mixed-precision fallback."""
        return f"{self.precision} +{len(self.float_layers)} float" if self.float_layers else self.precision

    @property
    def timed_pass(self) -> bool:
        """Passed every gate here and was timed: a candidate for the recommended bundle."""
        return self.status == "ok" and not self.superseded and self.latency_p50_ms is not None

    @property
    def flicker(self) -> str | None:
        """Raw/smoothed flicker as the table shows it, None where not measured."""
        if self.flicker_raw_pct is None or self.flicker_smoothed_pct is None:
            return None
        return f"{self.flicker_raw_pct:.2f}/{self.flicker_smoothed_pct:.2f}"

    @property
    def inference(self) -> str:
        """Requested/applied arithmetic precision, "-" where not pinned or not run."""
        return f"{self.inference_precision or '-'}/{self.applied_precision or '-'}"


@dataclass(frozen=True)
class Report:
    """What ``write_json`` stores and ``read_json`` returns."""

    command: dict[str, Any]
    settings: dict[str, Any]
    rows: list[BenchmarkRow]
    details: dict[str, Any] = field(default_factory=dict)


def command_block(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON "command" block: argv as typed and the parsed options."""
    options = {k: v if isinstance(v, (int, float, bool, type(None))) else str(v)
               for k, v in vars(args).items() if not k.startswith("_")}
    return {"argv": ["edgeparse", *sys.argv[1:]], "options": options}


def make_row(bundle: Bundle, parity: ParityResult | None = None, bench: BenchResult | None = None,
             runner_settings: dict[str, Any] | None = None, flicker: Any = None) -> BenchmarkRow:
    """The row of one bundle from whichever of parity and benchmark ran; ``runner_settings``
    (``runner.applied_settings()``, taken from ``bench`` when not given) gives the applied precision;
    ``flicker`` (an ``edge.video.flicker_gate.ClipFlicker``) its flicker on the deploy's clip."""
    m = bundle.manifest
    if runner_settings is None and bench is not None:
        runner_settings = bench.settings["runner"]
    values: dict[str, Any] = {"format": m.backend, "precision": m.precision, "size_mb": bundle.size_mb,
                              "status": "ok", "inference_precision": m.inference_precision,
                              "target": m.target, "bundle": m.name,
                              "float_layers": tuple(m.quantization.get("fallback", {}).get("layers", ())),
                              "applied_precision": (runner_settings or {}).get("inference_precision_applied")}
    if parity is not None:
        worst = parity.worst_class
        # mIoU is vs ground truth: none on a set without it (Δ columns are then vs the FP32 labels)
        values.update(miou=parity.candidate_miou if parity.ground_truth else None,
                      delta_miou=parity.delta_miou_pts, worst_class_delta_f1=worst.delta_f1_pts if worst else None,
                      agreement_pct=parity.agreement_pct)
        if not parity.passed:
            failed = [c.name for c in parity.checks if c.passed is False]
            values.update(status="parity_failed", reason="over limit: " + ", ".join(failed))
        elif worst is not None:
            values["reason"] = f"worst class {worst.name}"
    else:
        values["reason"] = "parity not checked (run edgeparse validate)"
    if bench is not None:
        values.update(latency_p50_ms=bench.model.median_ms, latency_p99_ms=bench.model.p99_ms, fps=bench.fps)
    if flicker is not None:
        values.update(flicker_raw_pct=flicker.raw_pct, flicker_smoothed_pct=flicker.smoothed_pct)
    return BenchmarkRow(**json_safe(values))


def with_speedups(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """``rows`` with ``speedup_vs_fp32`` set wherever the same format has a timed fp32 row."""
    fp32_ms = {r.format: r.latency_p50_ms for r in rows if r.precision == "fp32" and r.latency_p50_ms}
    return [dataclasses.replace(r, speedup_vs_fp32=fp32_ms[r.format] / r.latency_p50_ms)
            if r.format in fp32_ms and r.latency_p50_ms else r for r in rows]


def mark_recommended(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """``rows`` with ``recommended`` set on the fastest (p50) row of each target that passed every gate."""
    best: dict[str, BenchmarkRow] = {}
    for row in rows:
        if row.timed_pass and row.target and (row.target not in best or
                                              row.latency_p50_ms < best[row.target].latency_p50_ms):
            best[row.target] = row
    chosen = {id(row) for row in best.values()}
    return [dataclasses.replace(r, recommended=id(r) in chosen) for r in rows]


def recommendation_lines(rows: list[BenchmarkRow]) -> list[str]:
    """One line per target of ``rows``: its recommended bundle, or why it has none."""
    lines = []
    for target in dict.fromkeys(r.target for r in rows if r.target):
        row = next((r for r in rows if r.target == target and r.recommended), None)
        if row is None:
            lines.append(f"{STAR} {target}: no recommended bundle (none passed every gate and was timed here)")
            continue
        layers = f"; float layers: {', '.join(row.float_layers)}" if row.float_layers else ""
        lines.append(f"{STAR} {target}: {row.bundle} ({row.format} {row.variant}, p50 {row.latency_p50_ms:.2f} ms) "
                     f"is the fastest bundle that passed every gate{layers}")
    return lines


def _cell(row: BenchmarkRow, column: str, symbols: bool) -> str:
    value = getattr(row, column)
    if column == "status":
        status = SYMBOLS[value] + " " + value if symbols else value
        return status + ", superseded" if row.superseded else status
    if column == "format" and row.recommended:
        return f"{STAR} {value}"
    if column == "precision":
        return row.variant
    if column == "reason" and row.float_layers:
        return f"{value}; float: {', '.join(row.float_layers)}" if value else f"float: {', '.join(row.float_layers)}"
    if value is None:
        return "-"
    if column in ("delta_miou", "worst_class_delta_f1"):
        return f"{value:+.2f}"
    if column == "speedup_vs_fp32":
        return f"{value:.2f}×"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def format_table(rows: list[BenchmarkRow], recommend: bool = False) -> str:
    """Aligned terminal table plus the legend; ``recommend`` (a deploy run's table) adds the recommended
    bundle of each target under it."""
    cells = [[_cell(r, c, symbols=True) for c in COLUMNS] for r in rows]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
    if not recommend:
        return "\n".join([*lines, "", LEGEND])
    return "\n".join([*lines, *recommendation_lines(rows), "", LEGEND, DEPLOY_LEGEND])


def write_json(path: str | Path, report: Report) -> Path:
    """Three blocks: the command, the settings the backends applied, the results."""
    payload = {
        "command": report.command,
        "settings": report.settings,
        "results": {"rows": [dataclasses.asdict(r) for r in report.rows], **report.details},
    }
    path = Path(path)
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n")
    return path


def read_json(path: str | Path) -> Report:
    try:
        payload = json.loads(Path(path).read_text())
        results = dict(payload["results"])
        rows = [BenchmarkRow(**row) for row in results.pop("rows")]
        return Report(payload["command"], payload["settings"], rows, results)
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not an edgeparse report ({exc!r})") from exc


def format_markdown(rows: list[BenchmarkRow], parity: ParityResult | None = None, recommend: bool = False) -> str:
    """A GitHub markdown table of the rows (plus the per-class ΔF1 table when given; ``recommend``: the
    recommended bundle of each target, as in a deploy run's report)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_cell(r, c, symbols=False) for c in COLUMNS) + " |" for r in rows]
    for line in recommendation_lines(rows) if recommend else []:
        lines += ["", line]
    if parity is not None:
        basis = "" if parity.ground_truth else " (no ground truth: F1 is against the FP32 labels)"
        lines += ["", f"Per-class parity of {parity.bundle} on {parity.source}{basis}:", "",
                  "| Class | GT px | ref F1 | F1 | ΔF1 | status |", "|---|---|---|---|---|---|"]
        lines += [f"| {c.name} | {c.gt_pixels} | {_num(c.reference_f1)} | {_num(c.candidate_f1)} | "
                  f"{_num(c.delta_f1_pts, '+.2f')} | {c.status} |" for c in parity.classes]
    return "\n".join(lines) + "\n"


def _num(value: float, spec: str = ".2f") -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def write_markdown(path: str | Path, rows: list[BenchmarkRow], parity: ParityResult | None = None,
                   recommend: bool = False) -> Path:
    path = Path(path)
    atomic_write_text(path, format_markdown(rows, parity, recommend))
    return path


def write_plot(path: str | Path, rows: list[BenchmarkRow], parity: ParityResult | None = None) -> Path:
    """PNG with the latency per format (p50, p99 whisker) and/or the per-class ΔF1 bars."""
    timed = [r for r in rows if r.latency_p50_ms is not None]
    panels = (["latency"] if timed else []) + (["parity"] if parity is not None else [])
    if not panels:
        raise ConfigError("nothing to plot: no row has a latency and no parity result was given")
    import matplotlib

    matplotlib.use("Agg")  # files only: works on a headless device
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "latency":
            _plot_latency(ax, timed)
        else:
            _plot_parity(ax, parity)
    fig.tight_layout()
    path = Path(path)
    atomic_write_with(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
    return path


def _plot_latency(ax: Any, rows: list[BenchmarkRow]) -> None:
    labels = [f"{r.format}\n{r.precision}" for r in rows]
    p50 = [r.latency_p50_ms for r in rows]
    spread = [max((r.latency_p99_ms or r.latency_p50_ms) - r.latency_p50_ms, 0.0) for r in rows]
    ax.bar(labels, p50, yerr=[[0] * len(rows), spread], capsize=4, color="#4c72b0")
    ax.set_ylabel("latency ms (bar p50, whisker p99)")
    ax.set_title("Model latency per format")


def _plot_parity(ax: Any, parity: ParityResult) -> None:
    rows = [c for c in parity.classes if not math.isnan(c.delta_f1_pts)]
    colors = ["#c44e52" if c.status == "fail" else "#55a868" for c in rows]  # "reported" (no GT) is no failure
    ax.bar([c.name for c in rows], [c.delta_f1_pts for c in rows], color=colors)
    ax.axhline(-parity.thresholds.max_class_delta_f1_pts, color="k", linestyle="--", linewidth=1)
    ax.set_ylabel("ΔF1 vs FP32 (points)")
    ax.set_title(f"Per-class ΔF1: {parity.bundle} ({parity.precision})")
    ax.tick_params(axis="x", labelrotation=60)
