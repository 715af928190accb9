"""Per-layer time from a backend's own counters, grouped by op type and by network part.

A runner opened with ``profiling=True`` returns ``LayerTime`` rows from ``runner.profile(x, runs)``:
each executed layer's median time over the runs (OpenVINO's PERF_COUNT, onnxruntime's profiler),
with the multiply-accumulates of its convolution or matmul counted from the shapes the backend
reports. ``Profile`` groups them:

* by op type (OpenVINO's node type, onnxruntime's kernel), so memory-bound ops (reorders,
  concats, resizes, depthwise convolutions) stand out next to the convolutions;
* by network part: the top-level module an op was exported in, read from its ONNX scope
  (``/backbone/features.3/conv/Conv`` → ``backbone``). Ops outside every module (the final resize
  to the input size, the layout conversion of the output) form the part ``other``.

Each group's achieved GFLOP/s is 2 × its MACs over its time: a part far below the CPU's FMA peak
is memory-bound or poorly blocked, which is where a faster student must change.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

OTHER_PART = "other"
# A scope is "/name/" at the start of a node name, or after "_" where a backend prefixes its own
# node (OpenVINO's reorders: "input_abcd_acdb_/backbone/features.0/...": the consumer's scope).
_SCOPE = re.compile(r"(?:^|_)/([^/]+)/")


@dataclass(frozen=True)
class LayerTime:
    """One executed layer: its median time over the profiled runs and its MACs (0 if not a conv/matmul)."""

    name: str
    op_type: str
    exec_type: str  # the kernel the backend picked (e.g. brgconv_avx512_1x1_I8), or its provider
    ms: float
    macs: int = 0

    @property
    def part(self) -> str:
        return part_of(self.name)


@dataclass(frozen=True)
class GroupTime:
    key: str
    layers: int
    ms: float
    share: float  # of the summed layer time
    macs: int

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s (2 FLOP per MAC); 0 for a group without MACs."""
        return 2 * self.macs / (self.ms * 1e6) if self.ms > 0 else 0.0


def part_of(name: str) -> str:
    """The network part (top-level module scope) of a backend node name; ``other`` outside every module."""
    match = _SCOPE.search(name)
    return match.group(1) if match else OTHER_PART


def conv_macs(output_shape: Sequence[int], weights_per_output: int) -> int:
    """MACs of a convolution or matmul: one per weight use per output value."""
    return math.prod(output_shape) * weights_per_output


@dataclass(frozen=True)
class Profile:
    backend: str
    runs: int
    wall_ms: float  # median time of a whole inference while profiling
    layers: tuple[LayerTime, ...]

    @property
    def total_ms(self) -> float:
        return sum(layer.ms for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def by_op_type(self) -> list[GroupTime]:
        return self._group(lambda layer: layer.op_type)

    def by_part(self) -> list[GroupTime]:
        return self._group(lambda layer: layer.part)

    def top(self, count: int) -> list[LayerTime]:
        return sorted(self.layers, key=lambda layer: layer.ms, reverse=True)[:count]

    def _group(self, key: Callable[[LayerTime], str]) -> list[GroupTime]:
        groups: dict[str, list[LayerTime]] = {}
        for layer in self.layers:
            groups.setdefault(key(layer), []).append(layer)
        total = self.total_ms or 1.0
        rows = [GroupTime(name, len(members), sum(m.ms for m in members), sum(m.ms for m in members) / total,
                          sum(m.macs for m in members)) for name, members in groups.items()]
        return sorted(rows, key=lambda row: row.ms, reverse=True)

    def to_dict(self) -> dict[str, Any]:
        def rows(groups: Iterable[GroupTime]) -> list[dict[str, Any]]:
            return [{**asdict(g), "gflops": g.gflops} for g in groups]

        return {"backend": self.backend, "runs": self.runs, "wall_ms": self.wall_ms, "layer_sum_ms": self.total_ms,
                "macs": self.macs, "by_part": rows(self.by_part()), "by_op_type": rows(self.by_op_type()),
                "layers": [{**asdict(layer), "part": layer.part} for layer in self.layers]}


def _group_table(title: str, groups: Sequence[GroupTime]) -> list[str]:
    lines = [f"{title:<22} {'layers':>6} {'ms':>8} {'share':>6} {'GMAC':>7} {'GFLOP/s':>8}"]
    for g in groups:
        flops = f"{g.gflops:8.1f}" if g.macs else f"{'–':>8}"
        lines.append(f"{g.key[:22]:<22} {g.layers:6d} {g.ms:8.3f} {100 * g.share:5.1f}% {g.macs / 1e9:7.3f} {flops}")
    return lines


def format_profile(profile: Profile, top: int = 10) -> str:
    """The profile as text: parts, op types and the slowest layers, each with its share and GFLOP/s."""
    overall = 2 * profile.macs / (profile.total_ms * 1e6) if profile.total_ms else 0.0
    header = (f"profile ({profile.backend}'s own counters): median per layer over {profile.runs} runs; "
              f"layers sum to {profile.total_ms:.2f} ms, whole inference {profile.wall_ms:.2f} ms (median); "
              f"{profile.macs / 1e9:.3f} GMAC in the profiled layers, {overall:.1f} GFLOP/s overall")
    lines = [header, "", *_group_table("by part", profile.by_part()),
             "", *_group_table("by op type", profile.by_op_type()),
             "", f"slowest {top} layers", f"{'ms':>8} {'GFLOP/s':>8}  {'op type':<18} {'kernel':<28} layer"]
    for layer in profile.top(top):
        flops = f"{2 * layer.macs / (layer.ms * 1e6):8.1f}" if layer.macs and layer.ms > 0 else f"{'–':>8}"
        lines.append(f"{layer.ms:8.3f} {flops}  {layer.op_type[:18]:<18} {layer.exec_type[:28]:<28} {layer.name}")
    lines.append(f"parts are the top-level modules of the exported graph (ONNX scopes); '{OTHER_PART}' holds the "
                 "ops outside every module (the final resize, output layout conversion)")
    return "\n".join(lines)
