"""The ``jetson`` target: a TensorRT engine, built on the Jetson from the ONNX this target ships.

An engine only runs on the GPU model and TensorRT version that built it. So ``lower`` writes, per
precision, what the device needs to build one:

* ``<stem>.onnx``: for fp16 the FP32 ONNX, built with ``BuilderFlag.FP16``/``--fp16``. For int8 the
  symmetric QDQ ONNX (TensorRT explicit quantization, strongly typed). This is either the file of
  ``edgeparse quantize ptq|qat`` (``int8.qdq_onnx``) or a PT2E PTQ run here with the ``tensorrt`` family.
* ``engine_build.json``: the build settings (``targets.tensorrt_engine.EngineBuildSettings``).
* ``build_engine.sh``: trtexec with the same settings, then ``edgeparse build-engine . --engine``.
* ``qdq_lint.json`` (int8): the QDQ lint. It is a gate: a graph TensorRT would misread is refused here.

On a host where ``tensorrt`` imports and a GPU exists, ``lower`` also builds the engine right away
and ships it first. Nothing here imports torch (only the int8 PTQ path, inside) or tensorrt at
module level.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

from edge.errors import BackendUnavailable, ConfigError, ExportError, UnsupportedError
from quantize.qdq_lint import TENSORRT_OPS, LintReport, lint_qdq
from targets.base import Lowered, LowerRequest
from targets.export import INPUT_NAME, GraphRules
from targets.formats import require_precision, target_spec
from targets.tensorrt_engine import (
    DEFAULT_WORKSPACE_MB,
    ENGINE_MISSING,
    ENGINE_SUFFIX,
    LINT_FILE,
    ON_DEVICE,
    SCRIPT_FILE,
    SETTINGS_FILE,
    TIMING_CACHE_FILE,
    EngineBuildReport,
    EngineBuildSettings,
    build_engine,
    builder_flags,
    lint_summary,
    resolve_profile,
)

log = logging.getLogger(__name__)

SPEC = target_spec("jetson")
# The ops TensorRT's ONNX parser imports (the QDQ lint's list); dynamic inputs get a profile.
GRAPH_RULES = GraphRules(ops=TENSORRT_OPS, static_shapes=False)
TRTEXEC_FLAG = {"FP16": "--fp16", "INT8": "--int8"}
QDQ_ONLY = ("TensorRT INT8 here is explicit quantization only: a QDQ ONNX with symmetric int8 Q/DQ nodes, "
            "no calibrator")
NOT_BUILT = "not built here (the engine is built on the device)"


def lower(request: LowerRequest) -> Lowered:
    """Write the ONNX, build settings, ``build_engine.sh`` (and int8 lint) of one precision; see module doc."""
    require_precision(SPEC, request.precision)
    folder = request.work_dir / request.stem  # the jobs share work_dir; these file names repeat per job
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{request.stem}.onnx"
    quantization = _source_onnx(request, onnx_path)
    files = [onnx_path]
    if request.precision == "int8":
        report = _lint_gate(onnx_path)
        files.append(_write_lint(report, folder / LINT_FILE))
        quantization.update(quantize_nodes=report.quantize_nodes, dequantize_nodes=report.dequantize_nodes)
    settings = _settings(request, onnx_path)
    files.insert(1, settings.save(folder / SETTINGS_FILE))
    script = folder / SCRIPT_FILE
    script.write_text(engine_script(settings, request.stem))
    script.chmod(0o755)
    files.insert(2, script)
    built = _build_here(folder, settings, request.work_dir / TIMING_CACHE_FILE)
    if built is None:
        return Lowered(files, NOT_BUILT, quantization, f"{ENGINE_MISSING} {lint_summary(folder)}")
    note = (f"Engine built by lower on this host with TensorRT {built.tensorrt_version}; {ON_DEVICE}, so run "
            f"build_engine.sh on the Jetson unless this host is the deployment device.")
    return Lowered([built.engine_path, *files], built.tensorrt_version, quantization,
                   f"{note} {lint_summary(folder)}")


def _source_onnx(request: LowerRequest, path: Path) -> dict[str, Any]:
    """Copy (fp16, or int8 from ``int8.qdq_onnx``) or make (int8 PTQ here) the ONNX at ``path``;
    returns the manifest's quantization details."""
    if request.precision == "fp16":
        shutil.copyfile(request.onnx_path, path)
        return {}
    int8 = request.cfg.int8
    if int8.source == "nncf":
        raise UnsupportedError(f"int8.source=nncf makes an OpenVINO IR, which TensorRT cannot build from. "
                               f"{QDQ_ONLY}: set int8.qdq_onnx=PATH (from `edgeparse quantize ptq|qat`) or "
                               f"int8.source=auto to run PT2E PTQ here")
    if int8.qdq_onnx:
        source = Path(int8.qdq_onnx)
        if not source.is_file():
            raise ConfigError(f"int8.qdq_onnx={source} not found (the model_int8_qdq.onnx written by "
                              f"`edgeparse quantize ptq|qat`)")
        shutil.copyfile(source, path)
        return {"scheme": "explicit QDQ", "source": str(source), "strongly_typed": True}
    if int8.source == "qdq":
        raise ConfigError("int8.source=qdq needs int8.qdq_onnx=PATH (from `edgeparse quantize ptq|qat`)")
    return _ptq_here(request, path)


def _ptq_here(request: LowerRequest, path: Path) -> dict[str, Any]:
    """PT2E PTQ of the FP32 model with the ``tensorrt`` family (symmetric int8), exported as QDQ ONNX."""
    import torch

    from quantize.config import QuantCfg
    from quantize.export_qdq import export_qdq_onnx
    from quantize.ptq import ptq

    cfg = QuantCfg(family="tensorrt", method="ptq", input_size=request.input_size,
                   calib_images=request.cfg.calibration_images, observer=request.cfg.int8.observer)
    batches = [torch.from_numpy(x) for x in request.calibration()]
    export_qdq_onnx(ptq(request.model, batches, cfg), request.input_size, path)
    return {"scheme": "explicit QDQ", "source": "PT2E PTQ at deploy time (family tensorrt)",
            "observer": cfg.observer, "calibration_images": min(len(batches), cfg.calib_images),
            "strongly_typed": True}


def _lint_gate(onnx_path: Path) -> LintReport:
    """Refuse a model without Q/DQ (UnsupportedError) or one that breaks TensorRT's rules (ExportError)."""
    report = lint_qdq(onnx_path)
    if report.quantize_nodes + report.dequantize_nodes == 0:
        raise UnsupportedError(f"{onnx_path.name} has no QuantizeLinear/DequantizeLinear nodes, so it is not an "
                               f"INT8 model. {QDQ_ONLY}: quantize with `edgeparse quantize ptq|qat` "
                               f"(family tensorrt) and pass its QDQ ONNX as int8.qdq_onnx")
    if not report.ok:
        raise ExportError(f"the int8 QDQ ONNX breaks TensorRT's explicit-quantization rules, so no jetson "
                          f"bundle was made:\n{report.format()}")
    return report


def _write_lint(report: LintReport, path: Path) -> Path:
    data = {"file": Path(report.path).name, "ok": report.ok, "opset": report.opset,
            "quantize_nodes": report.quantize_nodes, "dequantize_nodes": report.dequantize_nodes,
            "findings": [dataclasses.asdict(f) for f in report.findings]}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _settings(request: LowerRequest, onnx_path: Path) -> EngineBuildSettings:
    """Build settings for the bundle's (1, 3, S, S) input; a static ONNX takes no profile."""
    shape = (1, 3, request.input_size, request.input_size)
    name, dims = _onnx_input(onnx_path)
    if name != INPUT_NAME:
        raise ExportError(f"{onnx_path.name}: its input is {name!r}; the runner feeds {INPUT_NAME!r}")
    try:
        profile = resolve_profile(name, dims, shape)
    except ExportError as exc:
        raise ExportError(f"{onnx_path.name}: {exc}") from exc
    return EngineBuildSettings(onnx=onnx_path.name, engine=onnx_path.stem + ENGINE_SUFFIX,
                               precision=request.precision, input_name=name, input_shape=shape, profile=profile,
                               strongly_typed=request.precision == "int8", workspace_mb=DEFAULT_WORKSPACE_MB)


def _onnx_input(path: Path) -> tuple[str, tuple[int, ...]]:
    """Name and dims (-1 where dynamic) of the one graph input that is not an initializer."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise ExportError(f"{path.name}: expected one input, found {[v.name for v in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    return inputs[0].name, tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in dims)


def _build_here(folder: Path, settings: EngineBuildSettings, timing_cache: Path) -> EngineBuildReport | None:
    """Build the engine now if this host has TensorRT and a GPU; None (logged) otherwise."""
    if importlib.util.find_spec("tensorrt") is None:
        log.info("jetson %s: TensorRT is not installed here. %s", settings.precision, ENGINE_MISSING)
        return None
    try:
        report = build_engine(folder / settings.onnx, folder / settings.engine, settings.precision,
                              settings.input_shape, settings.profile, timing_cache, settings.workspace_mb,
                              settings.strongly_typed, settings.input_name)
    except BackendUnavailable as exc:
        log.warning("jetson %s: no engine built here: %s", settings.precision, exc)
        return None
    log.info("jetson %s: %s", settings.precision, report.summary())
    return report


def trtexec_args(settings: EngineBuildSettings, timing_cache: str | None = TIMING_CACHE_FILE) -> list[str]:
    """trtexec's arguments for the build ``build_engine`` does (TensorRT 10 flag names).

    Shape flags only for a dynamic input: trtexec rejects them for a static model.
    """
    args = [f"--onnx={settings.onnx}", f"--saveEngine={settings.engine}"]
    flags = builder_flags(settings.precision, settings.strongly_typed)
    args += ["--stronglyTyped"] if settings.precision == "int8" and settings.strongly_typed else []
    args += [TRTEXEC_FLAG[flag] for flag in flags]
    if settings.profile is not None:
        profile, name = settings.profile, settings.input_name
        args += [f"--{kind}Shapes={name}:{'x'.join(map(str, shape))}" for kind, shape in
                 (("min", profile.min_shape), ("opt", profile.opt_shape), ("max", profile.max_shape))]
    args += [f"--timingCacheFile={timing_cache}"] if timing_cache else []
    return args + [f"--memPoolSize=workspace:{settings.workspace_mb}", "--skipInference"]  # MiB


_SCRIPT_HEAD = """#!/usr/bin/env bash
# Builds the TensorRT engine of the edgeparse jetson bundle {name} ({precision}) ON THE JETSON.
# An engine only runs on the GPU model and TensorRT version that built it, so none is shipped here.
#
# The same build in one step, with the TensorRT Python API and the settings of {settings}:
#   edgeparse build-engine . --workspace-mb {workspace_mb} --timing-cache {cache}   (in this folder)
set -euo pipefail
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
TIMING_CACHE="${{TIMING_CACHE:-{cache}}}"  # share one file between bundles to reuse tactic timings
EDGEPARSE="${{EDGEPARSE:-edgeparse}}"
if [ ! -x "$TRTEXEC" ]; then
  echo "build_engine.sh: trtexec not found; JetPack installs it as /usr/src/tensorrt/bin/trtexec (or set TRTEXEC=)" >&2
  exit 2
fi
"""
_SCRIPT_TAIL = """
# Record the engine (sha256) first in manifest.json, so that edgeparse validate/bench run it.
if command -v "$EDGEPARSE" >/dev/null 2>&1; then
  "$EDGEPARSE" build-engine . --engine {engine}
else
  echo "build_engine.sh: built {engine}; record it with: edgeparse build-engine <this folder> --engine {engine}" >&2
fi
"""


def engine_script(settings: EngineBuildSettings, name: str) -> str:
    """``build_engine.sh``: trtexec with the settings of ``engine_build.json``, then recording the engine."""
    fields = {"name": name, "precision": settings.precision, "settings": SETTINGS_FILE,
              "workspace_mb": settings.workspace_mb, "cache": TIMING_CACHE_FILE,
              "engine": shlex.quote(settings.engine)}
    args = [shlex.quote(a) for a in trtexec_args(settings, timing_cache=None)]
    args.insert(-2, '--timingCacheFile="$TIMING_CACHE"')
    command = " \\\n  ".join(['"$TRTEXEC"', *args])
    return _SCRIPT_HEAD.format(**fields) + command + "\n" + _SCRIPT_TAIL.format(**fields)
