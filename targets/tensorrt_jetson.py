"""The ``jetson`` target: a TensorRT engine, built on the Jetson from the ONNX this target ships.

An engine only runs on the GPU model and TensorRT version that built it. So ``lower`` writes, per
precision, what the device needs to build one:

* ``<stem>.onnx``: for fp16 the FP32 ONNX, built with ``BuilderFlag.FP16``/``--fp16`` by TensorRT 10.
  For int8 the symmetric QDQ ONNX (TensorRT explicit quantization, strongly typed). This is either the
  file of ``edgeparse quantize ptq|qat`` (``int8.qdq_onnx``) or a PT2E PTQ run here with the ``tensorrt``
  family.
* ``<stem>_typed.onnx`` (fp16): the same network with FP16 weights and activations and fp32 input and
  logits, which TensorRT 11 (no FP16 flag, strongly typed only) builds. int8 needs no second file: the
  QDQ ONNX is typed already.
* ``engine_build.json``: the build settings (``edge.tensorrt_engine.EngineBuildSettings``).
* ``build_engine.sh``: trtexec with the same settings for the TensorRT it finds, then
  ``edgeparse build-engine . --engine``.
* ``qdq_lint.json`` (int8): the QDQ lint. It is a gate: a graph TensorRT would misread is refused here.

The mixed-precision fallback of ``edgeparse deploy`` (``LowerRequest.float_layers``) drops the Q/DQ
pairs in front of the named layers from the QDQ ONNX (``targets.float_layers.keep_float``), so TensorRT's
strongly typed build runs them in float.

``host_model`` names the typed ONNX for the host-side accuracy row of ``edgeparse deploy``
(``Format.host_check``): onnxruntime runs it where TensorRT cannot.

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

from edge.bundle import Bundle
from edge.errors import BackendUnavailable, ConfigError, ExportError, UnsupportedError
from edge.tensorrt_engine import (
    DEFAULT_WORKSPACE_MB,
    ENGINE_MISSING,
    ENGINE_SUFFIX,
    LINT_FILE,
    ON_DEVICE,
    SCRIPT_FILE,
    SETTINGS_FILE,
    STRONGLY_TYPED_ONLY_FROM,
    TIMING_CACHE_FILE,
    EngineBuildReport,
    EngineBuildSettings,
    build_engine,
    build_path,
    lint_summary,
    resolve_profile,
)
from quantize.qdq_lint import TENSORRT_OPS, LintReport, lint_qdq
from targets.base import Lowered, LowerRequest
from targets.export import INPUT_NAME, OUTPUT_NAME, GraphRules, check_target_graph
from targets.float_layers import keep_float_in_file
from targets.formats import require_precision, target_spec

log = logging.getLogger(__name__)

SPEC = target_spec("jetson")
# The ops TensorRT's ONNX parser imports (the QDQ lint's list); dynamic inputs get a profile.
GRAPH_RULES = GraphRules(ops=TENSORRT_OPS, static_shapes=False)
TRTEXEC_FLAG = {"FP16": "--fp16", "INT8": "--int8"}
QDQ_ONLY = ("TensorRT INT8 here is explicit quantization only: a QDQ ONNX with symmetric int8 Q/DQ nodes, "
            "no calibrator")
NOT_BUILT = "not built here (the engine is built on the device)"
TYPED_SUFFIX = "_typed.onnx"


def lower(request: LowerRequest) -> Lowered:
    """Write the ONNX, build settings, ``build_engine.sh`` (and int8 lint) of one precision; see module doc."""
    require_precision(SPEC, request.precision)
    folder = request.work_dir / request.stem  # the jobs share work_dir; these file names repeat per job
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{request.stem}.onnx"
    quantization = _source_onnx(request, onnx_path)
    if request.float_layers:  # the mixed-precision fallback (targets.fallback): no Q/DQ in front of them
        quantization.update(keep_float_in_file(onnx_path, request.float_layers))
    if request.precision == "int8":
        report = _lint_gate(onnx_path)
        typed, extra = onnx_path, _write_lint(report, folder / LINT_FILE)
        quantization.update(quantize_nodes=report.quantize_nodes, dequantize_nodes=report.dequantize_nodes)
    else:
        typed = extra = fp16_onnx(onnx_path, folder / f"{request.stem}{TYPED_SUFFIX}")
    settings = _settings(request, onnx_path, typed)
    script = folder / SCRIPT_FILE
    script.write_text(engine_script(settings, request.stem))
    script.chmod(0o755)
    files = [onnx_path, settings.save(folder / SETTINGS_FILE), script, extra]
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


def fp16_onnx(source: Path, path: Path) -> Path:
    """``source`` with FP16 weights and activations and fp32 input and logits (a Cast at each end), at
    ``path``: the strongly typed fp16 network TensorRT 11 builds and the host-side fp16 row runs.

    onnxruntime's converter (``onnxruntime.transformers.float16``) keeps the ops of its block list (e.g.
    Min, Max, TopK) and Resize scales in fp32 between Casts; it clamps weights to the fp16 range.
    """
    import onnx
    import onnx_graphsurgeon as gs
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    # the converter appends its input/output Casts last; ONNX (and TensorRT's parser) want topological order
    model = gs.export_onnx(gs.import_onnx(model).toposort())
    onnx.checker.check_model(model)
    io = [(v.name, v.type.tensor_type.elem_type) for v in (*model.graph.input, *model.graph.output)]
    if io != [(INPUT_NAME, onnx.TensorProto.FLOAT), (OUTPUT_NAME, onnx.TensorProto.FLOAT)]:
        raise ExportError(f"{path.name}: the FP16 conversion changed the graph I/O to {io}; the runners feed "
                          f"float32 {INPUT_NAME!r} and read float32 {OUTPUT_NAME!r}")
    check_target_graph(model, "jetson", GRAPH_RULES)
    onnx.save(model, str(path))
    return path


def kept_float(request: LowerRequest) -> tuple[str, ...]:
    """Module paths int8 keeps float without the fallback: none (the QDQ ONNX quantizes every layer)."""
    return ()


def host_model(bundle: Bundle) -> Path:
    """The bundle file the host-side accuracy row runs: the strongly typed ONNX (the FP16 ONNX, or the QDQ
    ONNX for int8), the network TensorRT 11 builds as it is and TensorRT 10 builds the same or with flags."""
    settings = EngineBuildSettings.load(bundle.path / SETTINGS_FILE)
    typed = settings.strongly_typed_onnx
    if typed is None:
        raise UnsupportedError(f"{bundle.path}: no strongly typed ONNX to check on this host (a bundle from "
                               f"before typed_onnx); rebuild it with: {bundle.manifest.build_command}")
    return bundle.path / typed


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


def _settings(request: LowerRequest, onnx_path: Path, typed_onnx: Path) -> EngineBuildSettings:
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
                               strongly_typed=request.precision == "int8", workspace_mb=DEFAULT_WORKSPACE_MB,
                               typed_onnx=typed_onnx.name)


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
        report = build_engine(settings, folder, timing_cache)
    except BackendUnavailable as exc:
        log.warning("jetson %s: no engine built here: %s", settings.precision, exc)
        return None
    log.info("jetson %s: %s", settings.precision, report.summary())
    return report


def trtexec_args(settings: EngineBuildSettings, tensorrt_major: int, timing_cache: str | None = TIMING_CACHE_FILE
                 ) -> list[str]:
    """trtexec's arguments for the build ``build_engine`` does with a TensorRT of ``tensorrt_major``.

    Shape flags only for a dynamic input: trtexec rejects them for a static model. ``--stronglyTyped``
    is required on TensorRT 10 and a no-op (always on) from 11.
    """
    path = build_path(settings, tensorrt_major)
    args = [f"--onnx={path.onnx}", f"--saveEngine={settings.engine}"]
    args += ["--stronglyTyped"] if path.strongly_typed else []
    args += [TRTEXEC_FLAG[flag] for flag in path.builder_flags]
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
# TensorRT's major version picks the build: trtexec's banner "[TensorRT v100300]" is 10.3.0 (major * 10000 +
# minor * 100 + patch), else the Python bindings, else TRT_MAJOR= set by hand.
_SCRIPT_VERSION = r"""if [ -z "${TRT_MAJOR:-}" ]; then
  TRT_VERSION="$("$TRTEXEC" --help 2>&1 | sed -n 's/.*\[TensorRT v\([0-9][0-9]*\)\].*/\1/p' | head -n 1 || true)"
  if [ -n "$TRT_VERSION" ]; then
    TRT_MAJOR=$((TRT_VERSION / 10000))
  else
    TRT_MAJOR="$(python3 -c 'import tensorrt; print(tensorrt.__version__.split(".")[0])' 2>/dev/null || true)"
  fi
fi
case "${TRT_MAJOR:-}" in
  ''|*[!0-9]*) echo "build_engine.sh: cannot tell the TensorRT version; set TRT_MAJOR=10 (JetPack 6) or 11 (JetPack 7)" >&2
     exit 2 ;;
esac
if [ "$TRT_MAJOR" -lt 10 ]; then
  echo "build_engine.sh: TensorRT $TRT_MAJOR is too old; edgeparse builds with TensorRT 10 or later" >&2
  exit 2
fi
echo "build_engine.sh: TensorRT $TRT_MAJOR" >&2
"""
_SCRIPT_TAIL = """
# Record the engine (sha256) first in manifest.json, so that edgeparse validate/bench run it.
if command -v "$EDGEPARSE" >/dev/null 2>&1; then
  "$EDGEPARSE" build-engine . --engine {engine}
else
  echo "build_engine.sh: built {engine}; record it with: edgeparse build-engine <this folder> --engine {engine}" >&2
fi
"""


def _trtexec_command(settings: EngineBuildSettings, tensorrt_major: int, indent: str = "") -> str:
    args = [shlex.quote(a) for a in trtexec_args(settings, tensorrt_major, timing_cache=None)]
    args.insert(-2, '--timingCacheFile="$TIMING_CACHE"')
    return indent + f" \\\n{indent}  ".join(['"$TRTEXEC"', *args]) + "\n"


def engine_script(settings: EngineBuildSettings, name: str) -> str:
    """``build_engine.sh``: trtexec with the settings of ``engine_build.json`` on the path of the TensorRT
    it finds (10: flags or strong typing; 11+: the typed ONNX), then recording the engine."""
    fields = {"name": name, "precision": settings.precision, "settings": SETTINGS_FILE,
              "workspace_mb": settings.workspace_mb, "cache": TIMING_CACHE_FILE,
              "engine": shlex.quote(settings.engine)}
    trt10 = _trtexec_command(settings, 10, "  ")
    trt11 = (_trtexec_command(settings, STRONGLY_TYPED_ONLY_FROM, "  ") if settings.strongly_typed_onnx else
             '  echo "build_engine.sh: this bundle has no strongly typed ONNX for TensorRT $TRT_MAJOR" >&2\n  exit 2\n')
    build = (f'if [ "$TRT_MAJOR" -ge {STRONGLY_TYPED_ONLY_FROM} ]; then  # strongly typed networks only\n{trt11}'
             f'else  # TensorRT 10: builder flags, or strongly typed for QDQ\n{trt10}fi\n')
    return _SCRIPT_HEAD.format(**fields) + _SCRIPT_VERSION + build + _SCRIPT_TAIL.format(**fields)
