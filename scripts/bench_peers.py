"""``make bench-peers``: the default student beside BiSeNet-R18, EHANet-R18 and EHANet-R34 on this CPU.

Every model is built at 256² and 512² the way ``edgeparse deploy --target cpu`` builds it (the same
FP32 ONNX export, OpenVINO IR and NNCF PTQ INT8 with the logits convolution in float), and run in four
columns: OpenVINO f32, OpenVINO bf16 (the FP32 IR with bf16 arithmetic), OpenVINO INT8 and onnxruntime
FP32, 2 threads, batch 1, latency mode. All (model, size, column) pairs are timed round-robin: each
round gives every pair one block of inferences, so a noisy neighbour slows all of them alike.

The figure is **CPU time per inference** (this process's user + system time over a block, all threads),
which a neighbour's load affects far less than wall time; the table gives each pair's median over the
rounds and each peer ÷ the student. Beside it, the FMA peak of one core, measured with a small C loop of
independent FMA chains (f32 AVX-512 or AVX2 FMA; bf16 ``vdpbf16ps``; int8 VNNI ``vpdpbusd``) in that
thread's CPU time, and each model's achieved share of the peak of its column's arithmetic
(2 × MACs per inference ÷ CPU time ÷ one core's peak). Without a C compiler the f32 peak is estimated
with a large OpenVINO MatMul instead (which is below the true peak), and the output says so.

The peers have random weights (no ResNet weights ship, and only their speed matters here); INT8 is
calibrated on synthetic images for all models, which changes no kernel choice.

    python scripts/bench_peers.py --out runs/bench_peers     # or: make bench-peers

``--models`` times other variants beside the student instead of the peers, e.g. speed candidates of the
student (random weights, speed only; the ratio is then candidate ÷ student, < 1 = faster), and the extra
column ``ov_int8_float_logits`` keeps the logits convolution float (``int8.float_logits=true``):

    python scripts/bench_peers.py --out runs/student_candidates --sizes 256 \
        --models n128=ehanet_mbv2,neck_channels=128 sgcb1x1=ehanet_mbv2,sgcb=conv1x1 \
        --columns ov_f32 ov_bf16 ov_int8 ov_int8_float_logits
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_STUDENT = Path("models/default/ehanet_mbv2_celebamask_lfw_256.pt")
CHECKPOINT_SUFFIX = ".pt"  # a --models entry naming a trained checkpoint rather than a registered model
PEERS = ("bisenet_r18", "ehanet_r18", "ehanet_r34")  # registered models, random weights
STUDENT = "student"
SIZES = (256, 512)
CALIBRATION_IMAGES = 8  # enough for NNCF to place and size every quantizer; speed does not depend on the ranges


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    peak: str  # the arithmetic whose peak it is compared with: f32, bf16 or int8


COLUMNS = (Column("ov_f32", "OpenVINO f32", "f32"), Column("ov_bf16", "OpenVINO bf16", "bf16"),
           Column("ov_int8", "OpenVINO INT8", "int8"), Column("ort_f32", "onnxruntime FP32", "f32"),
           Column("ov_int8_float_logits", "OpenVINO INT8, logits conv float", "int8"))
DEFAULT_COLUMNS = ("ov_f32", "ov_bf16", "ov_int8", "ort_f32")


# ---------------------------------------------------------------------------------------------- peak

PEAK_SOURCE = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* Twelve independent accumulator chains hide the latency (4 cycles, 2 pipes on current cores); each
   starts from its own value, or the compiler merges identical chains into one. */
#define CHAINS 12
#define REP(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
/* f32 FMA, 16 lanes x 2 FLOP per instruction */
#define F512(i) __m512 a##i = _mm512_set1_ps(0.5f + 0.01f * i);
#define FMA512(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define ADD512(i) s = _mm512_add_ps(s, a##i);
__attribute__((target("avx512f"))) static double f32_avx512(long n, volatile float *sink) {
    __m512 x = _mm512_set1_ps(0.5f), y = _mm512_set1_ps(0.5f), s = _mm512_setzero_ps();
    REP(F512)
    for (long k = 0; k < n; k++) { REP(FMA512) }
    REP(ADD512)
    *sink = _mm512_reduce_add_ps(s);
    return 32.0 * CHAINS * n;
}
/* f32 FMA, 8 lanes x 2 FLOP per instruction */
#define F256(i) __m256 a##i = _mm256_set1_ps(0.5f + 0.01f * i);
#define FMA256(i) a##i = _mm256_fmadd_ps(a##i, x, y);
#define ADD256(i) s = _mm256_add_ps(s, a##i);
__attribute__((target("avx2,fma"))) static double f32_avx2(long n, volatile float *sink) {
    __m256 x = _mm256_set1_ps(0.5f), y = _mm256_set1_ps(0.5f), s = _mm256_setzero_ps();
    float lanes[8];
    REP(F256)
    for (long k = 0; k < n; k++) { REP(FMA256) }
    REP(ADD256)
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[7];
    return 16.0 * CHAINS * n;
}
/* bf16 dot products, 16 lanes x 2 products x 2 FLOP per instruction */
#define BF(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
__attribute__((target("avx512f,avx512bf16"))) static double bf16_avx512(long n, volatile float *sink) {
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3c00), y = x;
    __m512 s = _mm512_setzero_ps();
    REP(F512)
    for (long k = 0; k < n; k++) { REP(BF) }
    REP(ADD512)
    *sink = _mm512_reduce_add_ps(s);
    return 64.0 * CHAINS * n;
}
/* int8 VNNI, 16 lanes x 4 products x 2 OP per instruction */
#define I512(i) __m512i a##i = _mm512_set1_epi32(i);
#define VNNI(i) a##i = _mm512_dpbusd_epi32(a##i, x, y);
#define IADD(i) s = _mm512_add_epi32(s, a##i);
__attribute__((target("avx512f,avx512vnni"))) static double int8_vnni512(long n, volatile float *sink) {
    __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1), s = _mm512_setzero_si512();
    REP(I512)
    for (long k = 0; k < n; k++) { REP(VNNI) }
    REP(IADD)
    *sink = (float)_mm512_reduce_add_epi32(s);
    return 128.0 * CHAINS * n;
}
int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 20000000;
    volatile float sink;
    double ops = 0, t = cpu_s();
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "f32_avx512")) ops = f32_avx512(n, &sink);
    else if (!strcmp(argv[1], "f32_avx2")) ops = f32_avx2(n, &sink);
    else if (!strcmp(argv[1], "bf16_avx512")) ops = bf16_avx512(n, &sink);
    else if (!strcmp(argv[1], "int8_vnni512")) ops = int8_vnni512(n, &sink);
    else return 2;
    printf("%.6e %.6e\n", ops, cpu_s() - t);
    return 0;
}
"""
# kernel -> the /proc/cpuinfo flags it needs; per arithmetic, the first kernel whose flags are present
PEAK_KERNELS = {"f32": (("f32_avx512", ("avx512f",)), ("f32_avx2", ("avx2", "fma"))),
                "bf16": (("bf16_avx512", ("avx512f", "avx512_bf16")),),
                "int8": (("int8_vnni512", ("avx512f", "avx512_vnni")),)}


@dataclass(frozen=True)
class Peak:
    arithmetic: str
    gops_per_core: float | None  # GFLOP (GOP for int8) per CPU-second of one thread; None: not measured
    how: str


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass  # not Linux: no flags, every peak is then estimated or not measured
    return set()


def measure_peaks(flags: set[str], repeats: int = 5) -> dict[str, Peak]:
    """One core's f32, bf16 and int8 peak from the C loop (best of ``repeats`` runs, in thread CPU time)."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return {"f32": _openvino_matmul_peak(),
                **{a: Peak(a, None, "no C compiler (cc/gcc) to run the FMA loop") for a in ("bf16", "int8")}}
    with tempfile.TemporaryDirectory(prefix="edgeparse_peak_") as folder:
        source, binary = Path(folder) / "peak.c", Path(folder) / "peak"
        source.write_text(PEAK_SOURCE)
        subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True, capture_output=True)
        peaks = {}
        for arithmetic, kernels in PEAK_KERNELS.items():
            usable = [name for name, needs in kernels if all(flag in flags for flag in needs)]
            if not usable:
                peaks[arithmetic] = Peak(arithmetic, None, f"this CPU lacks {' / '.join(k[1][-1] for k in kernels)}")
                continue
            rates = []
            for _ in range(repeats):
                ops, seconds = map(float, subprocess.run([str(binary), usable[0]], check=True, capture_output=True,
                                                         text=True).stdout.split())
                rates.append(ops / seconds / 1e9)
            peaks[arithmetic] = Peak(arithmetic, max(rates), f"C loop, {usable[0]}, 12 FMA chains, best of {repeats}")
    return peaks


def _openvino_matmul_peak(n: int = 2048, runs: int = 10) -> Peak:
    """f32 estimate without a compiler: a 1-thread n×n OpenVINO MatMul (below the true FMA peak)."""
    import openvino as ov
    import openvino.opset13 as ops

    a = ops.parameter([n, n], ov.Type.f32)
    model = ov.Model([ops.matmul(a, ops.constant(np.ones((n, n), np.float32)), False, False)], [a])
    request = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                     "INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
    x = np.ones((n, n), np.float32)
    request.infer([x])
    start = time.process_time()
    for _ in range(runs):
        request.infer([x])
    rate = 2 * n ** 3 * runs / (time.process_time() - start) / 1e9
    return Peak("f32", rate, f"no C compiler: estimated with a 1-thread {n}² OpenVINO MatMul (below the FMA peak)")


# ------------------------------------------------------------------------------------------- models

@dataclass(frozen=True)
class Built:
    model: str
    size: int
    macs: int
    files: dict[str, Path]  # artifact per column key: the ONNX, the FP32 IR or an INT8 IR


# column key -> (artifact, inference precision); "onnx" is the FP32 ONNX, the others OpenVINO IRs
COLUMN_RUNS = {"ov_f32": ("fp32", "f32"), "ov_bf16": ("fp32", "bf16"), "ov_int8": ("int8", "f32"),
               "ov_int8_float_logits": ("int8_float_logits", "f32"), "ort_f32": ("onnx", None)}


def build(name: str, make_model: Callable[[], Any], size: int, folder: Path, columns: Sequence[str]) -> Built:
    """The cpu target's FP32 ONNX and the OpenVINO IRs ``columns`` need, for one model at one size:
    FP32, INT8 of every layer (deploy's default) and, for ``ov_int8_float_logits``, INT8 with the logits
    convolution in float (``int8.float_logits=true``)."""
    from targets.base import LowerRequest
    from targets.config import load_deploy_config
    from targets.export import export_onnx
    from targets.openvino_cpu import lower
    from training.models.complexity import count_macs

    folder.mkdir(parents=True, exist_ok=True)
    model = make_model().eval()
    files = {"onnx": export_onnx(model, size, folder / f"{name}_{size}.onnx")}
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 3, size, size)).astype(np.float32) for _ in range(CALIBRATION_IMAGES)]
    overrides = [f"input_size={size}", f"calibration_images={CALIBRATION_IMAGES}"]
    for artifact in dict.fromkeys(COLUMN_RUNS[c][0] for c in columns):
        if artifact == "onnx":
            continue
        float_logits = ["int8.float_logits=true"] if artifact == "int8_float_logits" else []
        cfg = load_deploy_config(None, overrides + float_logits)
        precision = "fp32" if artifact == "fp32" else "int8"
        request = LowerRequest("cpu", precision, files["onnx"], model, lambda: calibration, DEFAULT_STUDENT,
                               folder, f"{name}_{size}_{artifact}", cfg)
        files[artifact] = lower(request).artifacts[0]
    return Built(name, size, count_macs(model, size).total, {c: files[COLUMN_RUNS[c][0]] for c in columns})


def parse_model_spec(text: str) -> tuple[str, str, dict[str, Any]]:
    """``LABEL=MODEL[,key=value...]`` (a registered model with overrides, random weights), ``LABEL=PATH.pt``
    (a trained checkpoint, e.g. an architecture candidate) or ``student`` -> (label, model name or checkpoint
    path or "student", overrides). Values are YAML scalars (``neck_channels=128``)."""
    import yaml

    label, sep, spec = text.partition("=")
    if not sep:
        label, spec = text, text
    model, *pairs = spec.split(",")
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--models: expected LABEL=MODEL[,key=value...], got {text!r}")
        overrides[key] = yaml.safe_load(value)
    if not label or not model:
        raise SystemExit(f"--models: expected LABEL=MODEL[,key=value...], got {text!r}")
    return label, model, overrides


def model_factories(student: Path, specs: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """Label -> model builder: ``student`` loads the trained checkpoint, others are registered models
    with the student's class count and random weights (seed 0)."""
    import torch

    from training.checkpoint import build_model_from_checkpoint, load_checkpoint
    from training.models import create_model

    payload = load_checkpoint(student)

    def registered(model: str, overrides: dict[str, Any]) -> Callable[[], Any]:
        def make() -> Any:
            torch.manual_seed(0)
            return create_model(model, num_classes=payload["num_classes"], **overrides)
        return make

    def trained(path: Path) -> Callable[[], Any]:
        candidate = load_checkpoint(path)
        return lambda: build_model_from_checkpoint(candidate)

    factories: dict[str, Callable[[], Any]] = {STUDENT: lambda: build_model_from_checkpoint(payload)}
    for text in specs:
        label, model, overrides = parse_model_spec(text)
        if model.endswith(CHECKPOINT_SUFFIX):
            if overrides:
                raise SystemExit(f"--models: a checkpoint carries its architecture; drop the overrides of {text!r}")
            factories[label] = trained(Path(model))
        elif model != STUDENT:
            factories[label] = registered(model, overrides)
    return factories


def open_column(built: Built, column: Column, threads: int) -> Any:
    from edge.backends.base import TensorSpec
    from edge.backends.openvino import OpenVinoRunner
    from edge.backends.ort import OrtRunner

    spec = TensorSpec("input", (1, 3, built.size, built.size))
    precision = COLUMN_RUNS[column.key][1]
    path = built.files[column.key]
    runner = OrtRunner(path, spec, threads=threads) if precision is None else \
        OpenVinoRunner(path, spec, threads=threads, inference_precision=precision)
    runner.activate()
    return runner


# ------------------------------------------------------------------------------------------- timing

def time_block(runner: Any, x: np.ndarray, runs: int, warmup: int = 3) -> tuple[float, float]:
    """(CPU ms, wall ms) per inference over ``runs`` inferences; the warm-up also absorbs the idle
    spinning of the previous block's thread pool."""
    for _ in range(warmup):
        runner.infer(x)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(runs):
        runner.infer(x)
    return (time.process_time() - cpu) * 1e3 / runs, (time.perf_counter() - wall) * 1e3 / runs


Key = tuple[str, int, str]  # (model, size, column key)


def round_robin(runners: dict[Key, Any], inputs: dict[int, np.ndarray], rounds: int, runs: dict[int, int],
                emit: Callable[[str], None] = print) -> dict[Key, list[tuple[float, float]]]:
    samples: dict[Key, list[tuple[float, float]]] = {key: [] for key in runners}
    for index in range(rounds):
        emit(f"round {index + 1}/{rounds}: {len(runners)} (model, size, column) blocks")
        for key, runner in runners.items():
            samples[key].append(time_block(runner, inputs[key[1]], runs[key[1]]))
    return samples


# -------------------------------------------------------------------------------------------- table

@dataclass(frozen=True)
class Cell:
    cpu_ms: float  # median CPU time per inference over the rounds
    wall_ms: float  # median wall time per inference
    peak_pct: float | None  # achieved share of one core's peak of the column's arithmetic


def build_table(samples: dict[Key, list[tuple[float, float]]], macs: dict[tuple[str, int], int],
                peaks: dict[str, Peak]) -> dict[Key, Cell]:
    """Median CPU and wall ms per (model, size, column), and the achieved share of the peak."""
    table = {}
    for (model, size, column_key), pairs in samples.items():
        cpu_ms = statistics.median(cpu for cpu, _ in pairs)
        wall_ms = statistics.median(wall for _, wall in pairs)
        peak = peaks[_column(column_key).peak].gops_per_core
        achieved = 2 * macs[(model, size)] / (cpu_ms * 1e6)  # G(FL)OP per CPU-second
        table[(model, size, column_key)] = Cell(cpu_ms, wall_ms, 100 * achieved / peak if peak else None)
    return table


def _column(key: str) -> Column:
    return next(column for column in COLUMNS if column.key == key)


def ratios(table: dict[Key, Cell], peer: str, size: int) -> dict[str, float]:
    """Peer (or candidate) CPU time ÷ student CPU time per column (> 1: the student is faster)."""
    return {c.key: table[(peer, size, c.key)].cpu_ms / table[(STUDENT, size, c.key)].cpu_ms
            for c in COLUMNS if (peer, size, c.key) in table and (STUDENT, size, c.key) in table}


def format_report(table: dict[Key, Cell], macs: dict[tuple[str, int], int], peaks: dict[str, Peak],
                  header: Sequence[str], rounds: int) -> str:
    models = list(dict.fromkeys(model for model, _, _ in table))
    sizes = sorted({size for _, size, _ in table})
    columns = [c for c in COLUMNS if any(key == c.key for _, _, key in table)]
    lines = [*header, "", "FMA peak of one core, per CPU-second of its thread:"]
    for peak in peaks.values():
        value = f"{peak.gops_per_core:7.1f} G{'OP' if peak.arithmetic == 'int8' else 'FLOP'}/s" \
            if peak.gops_per_core else "   not measured"
        lines.append(f"  {peak.arithmetic:<5} {value}  ({peak.how})")
    lines += ["", f"Peer ÷ student, CPU time per inference (median of {rounds} round-robin rounds), batch 1:", "",
              "| at size | " + " | ".join(c.title for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for size in sizes:
        for peer in models:
            if peer == STUDENT:
                continue
            r = ratios(table, peer, size)
            lines.append(f"| {peer} ÷ student @ {size}² | " + " | ".join(
                f"{r[c.key]:.2f}×" if c.key in r else "–" for c in columns) + " |")
    lines += ["", "CPU ms per inference (wall ms) and achieved % of one core's peak of the column's arithmetic:", "",
              "| model | size | GMAC | " + " | ".join(c.title for c in columns) + " |",
              "|---|---|---|" + "---|" * len(columns)]
    for size in sizes:
        for model in models:
            cells = []
            for c in columns:
                cell = table.get((model, size, c.key))
                pct = "" if cell is None or cell.peak_pct is None else f", {cell.peak_pct:.0f} %"
                cells.append("–" if cell is None else f"{cell.cpu_ms:.2f} ({cell.wall_ms:.2f}){pct}")
            lines.append(f"| {model} | {size}² | {macs[(model, size)] / 1e9:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_header(threads: int) -> list[str]:
    from edge.bench import cpu_name

    flags = sorted(cpu_flags() & {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16",
                                  "amx_int8", "avx_vnni"})
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return [f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; vector flags: {' '.join(flags)} (all: the JSON)",
            f"load average at the start: {load} (other jobs load the machine: compare ratios within one run)",
            f"threads per inference: {threads}; latency mode; CPU time = this process's user+system time"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=DEFAULT_STUDENT)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_peers"))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--models", nargs="+", default=list(PEERS), metavar="LABEL=MODEL[,key=value]",
                        help="what to time beside the student: registered models with overrides and random weights, "
                             "e.g. bisenet_r18 or n128=ehanet_mbv2,neck_channels=128, or trained checkpoints, "
                             "e.g. sgcb1x1=runs/speed_student/sgcb1x1_ft/best.pt (default: the three peers)")
    parser.add_argument("--columns", nargs="+", default=list(DEFAULT_COLUMNS), choices=[c.key for c in COLUMNS])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20, help="inferences per block at 256² (scaled by area)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from edge.backends import opt_out_of_telemetry

    opt_out_of_telemetry()
    header = machine_header(args.threads)
    print("\n".join(header), flush=True)
    peaks = measure_peaks(cpu_flags())
    factories = model_factories(args.student, args.models)
    built = {}
    for size in args.sizes:
        for name, make in factories.items():
            print(f"building {name} @ {size}² for {', '.join(args.columns)}", flush=True)
            built[(name, size)] = build(name, make, size, args.out / "models", args.columns)
    columns = [c for c in COLUMNS if c.key in args.columns]
    runners = {(name, size, c.key): open_column(b, c, args.threads) for (name, size), b in built.items()
               for c in columns}
    rng = np.random.default_rng(0)
    inputs = {size: rng.standard_normal((1, 3, size, size)).astype(np.float32) for size in args.sizes}
    runs = {size: max(2, round(args.runs * (256 / size) ** 2)) for size in args.sizes}
    samples = round_robin(runners, inputs, args.rounds, runs, emit=lambda text: print(text, flush=True))
    macs = {key: b.macs for key, b in built.items()}
    table = build_table(samples, macs, peaks)
    report = format_report(table, macs, peaks, header, args.rounds)
    print(report)
    from edge.io import atomic_write_text, json_safe

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "bench_peers.txt", report + "\n")
    atomic_write_text(args.out / "bench_peers.json", json.dumps(json_safe({
        "header": header, "cpu_flags": sorted(cpu_flags()), "peaks": {k: asdict(v) for k, v in peaks.items()}, "runs_per_block": runs,
        "rounds": args.rounds, "samples": {"|".join(map(str, k)): v for k, v in samples.items()},
        "table": {"|".join(map(str, k)): asdict(v) for k, v in table.items()}}), indent=2))
    print(f"wrote {args.out / 'bench_peers.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
