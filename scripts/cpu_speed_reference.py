"""The default student against a heavy EHANet-R18 reference: OpenVINO INT8 speed side by side.

Builds a ``cpu`` INT8 bundle (NNCF PTQ) of each model at the same input size, then benchmarks the
two in alternating rounds (so a noisy neighbour slows both alike), each bench in its own process
so its peak RSS is the runner's own. The reference is EHANet-R18 from our registry with **random
weights** and the student's recipe (for calibration data): its masks mean nothing, its cost is
the architecture's. Parity of the reference is not checked for the same reason.

    python scripts/cpu_speed_reference.py --out runs/speed          # or: make bench-speed

``--candidates MODEL@SIZE ...`` instead times the student beside other backbones and input sizes
(latency mode), the table the default student's backbone and size were picked from: its mIoU
column is the val mIoU stored in a trained checkpoint, given as ``MODEL@SIZE=CHECKPOINT``, and "–"
for a candidate that was only timed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

DEFAULT_STUDENT = Path("models/default/ehanet_mbv2_celebamask_lfw_256.pt")
MODES = ("latency", "throughput")


def reference_checkpoint(student: Path, model_name: str, path: Path) -> Path:
    """``model_name`` with random weights and the student's schema and recipe (for calibration data)."""
    import torch

    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.models import create_model

    payload = load_checkpoint(student)
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=payload["num_classes"])
    save_checkpoint({**payload, "model_name": model_name, "model_overrides": {}, "state_dict": model.state_dict(),
                     "metrics": {}}, path)
    return path


def build_int8_bundle(checkpoint: Path, out_dir: Path, size: int) -> Path:
    from targets.config import load_deploy_config
    from targets.pipeline import Job, deploy

    cfg = load_deploy_config(None, [f"input_size={size}", "bench.runs=20", "bench.warmup=5"])
    result = deploy(checkpoint, cfg, [Job("cpu", "int8")], out_dir, "scripts/cpu_speed_reference.py", emit=print)
    outcome = result.outcomes[0]
    if outcome.bundle_dir is None:
        sys.exit(f"no INT8 bundle was built from {checkpoint}: {outcome.row.reason}")
    return outcome.bundle_dir


def bench(bundle: Path, mode: str, runs: int, threads: int, json_path: Path) -> dict:
    """One ``edgeparse bench`` in a fresh process: FPS, latency and that process's peak RSS."""
    command = [sys.executable, "-m", "edge.cli", "bench", str(bundle), "--mode", mode, "--runs", str(runs),
               "--threads", str(threads), "--json", str(json_path)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(json_path.read_text())["results"]["benchmark"]
    return {"fps": result["fps"], "p50": result["model"]["median_ms"], "p99": result["model"]["p99_ms"],
            "rss": result["peak_rss_mb"]}


def summarize(samples: list[dict]) -> dict:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=DEFAULT_STUDENT)
    parser.add_argument("--reference", default="ehanet_r18", help="registered model to compare against")
    parser.add_argument("--out", type=Path, default=Path("runs/speed"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bench rounds per model and mode")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", nargs="+", metavar="MODEL@SIZE[=CKPT]",
                        help="time these instead of the reference (latency mode), e.g. ehanet_mbv2@384")
    args = parser.parse_args(argv)
    if args.candidates:
        return compare_candidates(args)

    args.out.mkdir(parents=True, exist_ok=True)
    reference = reference_checkpoint(args.student, args.reference, args.out / f"{args.reference}_random.pt")
    bundles = {"student": build_int8_bundle(args.student, args.out / "student", args.size),
               args.reference: build_int8_bundle(reference, args.out / "reference", args.size)}
    samples: dict[tuple[str, str], list[dict]] = {}
    for round_index in range(args.rounds):
        for mode in MODES:
            for name, bundle in bundles.items():
                print(f"round {round_index + 1}/{args.rounds}: {name} {mode}", flush=True)
                json_path = args.out / f"bench_{name}_{mode}_{round_index}.json"
                samples.setdefault((name, mode), []).append(bench(bundle, mode, args.runs, args.threads, json_path))
    table = {key: summarize(value) for key, value in samples.items()}
    print(format_table(table, bundles, args))
    (args.out / "speed.json").write_text(json.dumps({f"{n} {m}": v for (n, m), v in table.items()}, indent=2))
    return 0


def parse_candidate(text: str) -> tuple[str, int, Path | None]:
    """``MODEL@SIZE[=CHECKPOINT]`` -> (model, size, checkpoint or None)."""
    spec, _, checkpoint = text.partition("=")
    model, _, size = spec.partition("@")
    if not model or not size.isdigit():
        sys.exit(f"--candidates: expected MODEL@SIZE[=CHECKPOINT], got {text!r}")
    return model, int(size), Path(checkpoint) if checkpoint else None


def compare_candidates(args: argparse.Namespace) -> int:
    """Each candidate's OpenVINO INT8 latency, round-robin, beside the val mIoU of trained ones."""
    from training.checkpoint import load_checkpoint

    args.out.mkdir(parents=True, exist_ok=True)
    bundles, miou = {}, {}
    for text in args.candidates:
        model, size, checkpoint = parse_candidate(text)
        name = f"{model}@{size}"
        if checkpoint is None:
            checkpoint = reference_checkpoint(args.student, model, args.out / f"{model}_random.pt")
            miou[name] = None
        else:
            miou[name] = load_checkpoint(checkpoint).get("metrics", {}).get("miou")
        bundles[name] = build_int8_bundle(checkpoint, args.out / name.replace("@", "_"), size)
    samples: dict[str, list[dict]] = {}
    for round_index in range(args.rounds):
        for name, bundle in bundles.items():
            print(f"round {round_index + 1}/{args.rounds}: {name}", flush=True)
            json_path = args.out / f"bench_{name.replace('@', '_')}_{round_index}.json"
            samples.setdefault(name, []).append(bench(bundle, "latency", args.runs, args.threads, json_path))
    table = {name: summarize(value) for name, value in samples.items()}
    title = (f"OpenVINO INT8, latency mode, {args.threads} threads, median of {args.rounds} round-robin rounds "
             f"of {args.runs} runs; mIoU = val mIoU of a trained checkpoint")
    lines = [title, f"{'candidate':<20} {'val mIoU':>8} {'p50 ms':>7} {'p99 ms':>7} {'FPS':>7}"]
    for name, row in table.items():
        score = "–" if miou[name] is None else f"{100 * miou[name]:.2f}"
        lines.append(f"{name:<20} {score:>8} {row['p50']:7.2f} {row['p99']:7.2f} {row['fps']:7.1f}")
    print("\n".join(lines))
    (args.out / "candidates.json").write_text(json.dumps({"table": table, "miou": miou}, indent=2))
    return 0


def format_table(table: dict, bundles: dict[str, Path], args: argparse.Namespace) -> str:
    names = list(bundles)
    title = (f"OpenVINO INT8 at {args.size}², {args.threads} threads, median of {args.rounds} alternating "
             f"rounds of {args.runs} runs")
    lines = [title,
             f"{'model':<12} {'mode':<10} {'p50 ms':>7} {'p99 ms':>7} {'FPS':>7} {'RSS MB':>7} {'× ref FPS':>9}"]
    for mode in MODES:
        ref_fps = table[(names[1], mode)]["fps"]
        for name in names:
            row = table[(name, mode)]
            lines.append(f"{name:<12} {mode:<10} {row['p50']:7.2f} {row['p99']:7.2f} {row['fps']:7.1f} "
                         f"{row['rss']:7.0f} {row['fps'] / ref_fps:9.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
