"""``edgeparse build-engine BUNDLE``: build the TensorRT engine of a jetson bundle, on the Jetson.

An engine only runs on the GPU and TensorRT version that built it, so a jetson bundle ships the ONNX
and this command builds the engine on the device (TensorRT Python API). It then records the engine
first in the manifest, with its sha256, so ``edgeparse validate``/``bench`` run it. ``--engine FILE``
records an engine that trtexec already built from the bundle (the last step of ``build_engine.sh``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.io import atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="jetson deploy bundle folder (with manifest.json)")
    parser.add_argument("--workspace-mb", type=int, metavar="N",
                        help="TensorRT workspace limit in MiB (default: the bundle's engine_build.json)")
    parser.add_argument("--timing-cache", type=Path, metavar="PATH",
                        help="timing cache to reuse and update (default: BUNDLE/timing.cache); share one "
                             "file between bundles on the same device")
    parser.add_argument("--engine", type=Path, metavar="FILE",
                        help="record this engine, built by trtexec from the bundle's ONNX, instead of building")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the build report as JSON here")


def run(args: argparse.Namespace) -> int:
    from edge.errors import ConfigError
    from edge.tensorrt_engine import adopt_engine, build_bundle_engine

    next_step = f"next: edgeparse validate {args.bundle} && edgeparse bench {args.bundle}"
    if args.engine:
        if args.workspace_mb is not None or args.timing_cache or args.json:
            raise ConfigError("--engine records an engine trtexec built; --workspace-mb, --timing-cache and "
                              "--json apply only when build-engine builds it")
        print(f"recorded {adopt_engine(args.bundle, args.engine)} as the bundle's model; {next_step}")
        return 0
    report = build_bundle_engine(args.bundle, args.workspace_mb, args.timing_cache)
    print(report.summary())
    print(next_step)
    if args.json:
        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
    return 0
