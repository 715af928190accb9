"""TensorRT engine builds for the jetson target: device side, torch-free, ``tensorrt`` imported lazily.

An engine only runs on the GPU model and TensorRT version that built it, so it is built on the Jetson
from the bundle's ONNX. ``build_bundle_engine`` (``edgeparse build-engine BUNDLE``) builds it with the
TensorRT Python API. ``adopt_engine`` records one that trtexec built (``build_engine.sh``). Both put
``<stem>.engine`` first in the manifest with its sha256, so that ``edgeparse validate``/``bench`` run
it through ``TensorRtRunner``.

The build path depends on the TensorRT version found (``build_path``):

* TensorRT 10 (JetPack 6): fp16 builds the FP32 ONNX with the weakly typed ``BuilderFlag.FP16``; int8
  builds the QDQ ONNX as a ``STRONGLY_TYPED`` network (or weakly typed with ``INT8 | FP16`` when the
  settings ask for it). INT8 is explicit quantization only (Q/DQ nodes, no calibrator).
* TensorRT 11 and later (JetPack 7): the precision builder flags and calibrators are gone and every
  network is strongly typed, so the build takes the bundle's typed ONNX: the FP16 ONNX for fp16
  (FP16 tensors, fp32 input and logits), the QDQ ONNX for int8.

It lives in ``edge`` because the device runs it (``edgeparse build-engine``): Python >= 3.10 (JetPack 6),
no torch, nothing from ``targets``; ``targets.tensorrt_jetson`` writes the settings it reads.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone  # not datetime.UTC: Python >= 3.11 only
from pathlib import Path
from typing import Any

from edge.bundle import MANIFEST_FILE, Manifest, load_bundle, load_manifest
from edge.config import from_dict, to_dict
from edge.errors import BackendUnavailable, ConfigError, ExportError, UnsupportedError
from edge.formats import FORMATS
from edge.io import atomic_write_bytes, atomic_write_text, file_sha256

log = logging.getLogger(__name__)

ENGINE_SUFFIX = ".engine"
SCRIPT_FILE = "build_engine.sh"
SETTINGS_FILE = "engine_build.json"
LINT_FILE = "qdq_lint.json"
TIMING_CACHE_FILE = "timing.cache"
DEFAULT_WORKSPACE_MB = 1024
ENGINE_PRECISIONS = tuple(f.precision for f in FORMATS if f.suffix == ENGINE_SUFFIX)  # the jetson rows
ON_DEVICE = ("TensorRT engines are specific to the GPU and TensorRT version that build them, so the engine "
             "is built on the Jetson itself")
ENGINE_MISSING = (f"No engine yet: {ON_DEVICE}. Copy this folder to the Jetson and run `bash build_engine.sh` "
                  f"or `edgeparse build-engine <bundle>`, then `edgeparse validate`/`bench`.")


@dataclass(frozen=True)
class ShapeProfile:
    """One TensorRT optimization profile for the input tensor (NCHW shapes)."""

    min_shape: tuple[int, ...]
    opt_shape: tuple[int, ...]
    max_shape: tuple[int, ...]

    @classmethod
    def fixed(cls, shape: tuple[int, ...]) -> ShapeProfile:
        return cls(tuple(shape), tuple(shape), tuple(shape))

    def check(self, rank: int) -> None:
        """Raise ``ConfigError`` unless all three shapes have ``rank`` dims and min <= opt <= max."""
        shapes = (self.min_shape, self.opt_shape, self.max_shape)
        if any(len(s) != rank for s in shapes) or any(d < 1 for s in shapes for d in s):
            raise ConfigError(f"optimization profile {self.describe()}: needs three shapes of {rank} positive dims")
        if not all(lo <= mid <= hi for lo, mid, hi in zip(*shapes)):
            raise ConfigError(f"optimization profile {self.describe()}: needs min <= opt <= max in every dim")

    def covers(self, shape: tuple[int, ...]) -> bool:
        return all(lo <= d <= hi for lo, d, hi in zip(self.min_shape, shape, self.max_shape))

    def describe(self) -> str:
        return " / ".join(_dims(s) for s in (self.min_shape, self.opt_shape, self.max_shape))


@dataclass(frozen=True)
class EngineBuildSettings:
    """``engine_build.json``: how the device builds the engine; written by ``lower``, read by
    ``edgeparse build-engine`` and mirrored by ``build_engine.sh``. ``profile`` is None for a static input.

    ``onnx`` is what TensorRT 10 builds, strongly typed or with builder flags as ``strongly_typed`` says;
    ``typed_onnx`` the strongly typed network TensorRT 11+ builds (None in bundles made before it)."""

    onnx: str
    engine: str
    precision: str
    input_name: str
    input_shape: tuple[int, ...]
    profile: ShapeProfile | None
    strongly_typed: bool
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    typed_onnx: str | None = None

    @property
    def strongly_typed_onnx(self) -> str | None:
        """The file a strongly typed build parses; a QDQ ONNX is typed itself (int8 where Q/DQ say)."""
        return self.typed_onnx or (self.onnx if self.precision == "int8" else None)

    def save(self, path: Path) -> Path:
        atomic_write_text(path, json.dumps(to_dict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> EngineBuildSettings:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: unreadable engine build settings ({exc})") from exc
        settings = from_dict(cls, data, where=str(path))
        _check_precision(settings.precision)
        return settings


@dataclass(frozen=True)
class BuildPath:
    """What one TensorRT version builds from a bundle: which of its ONNX files, and how it is typed."""

    tensorrt_major: int
    onnx: str
    strongly_typed: bool
    builder_flags: tuple[str, ...]

    def describe(self) -> str:
        typing_ = "strongly typed" if self.strongly_typed else "weakly typed, flags " + "|".join(self.builder_flags)
        return f"TensorRT {self.tensorrt_major} path: {self.onnx}, {typing_}"


# TensorRT 11 removed BuilderFlag.FP16/INT8 and the calibrators: every network is strongly typed.
STRONGLY_TYPED_ONLY_FROM = 11


def tensorrt_major(version: str) -> int:
    """The major of a ``tensorrt.__version__`` such as ``10.3.0.30``."""
    head = str(version).split(".")[0]
    if not head.isdigit():
        raise UnsupportedError(f"cannot read the TensorRT version {version!r}")
    return int(head)


def build_path(settings: EngineBuildSettings, major: int) -> BuildPath:
    """The ONNX and typing a TensorRT of ``major`` builds: flags or strong typing on 10, strong typing
    from the typed ONNX on 11+ (see the module doc)."""
    _check_precision(settings.precision)
    if major < 10:
        raise UnsupportedError(f"TensorRT {major}: edgeparse builds engines with TensorRT 10 (JetPack 6) or "
                               f"{STRONGLY_TYPED_ONLY_FROM}+ (JetPack 7)")
    typed = settings.strongly_typed_onnx
    if major < STRONGLY_TYPED_ONLY_FROM and not settings.strongly_typed:
        return BuildPath(major, settings.onnx, False, builder_flags(settings.precision, False))
    if typed is None:
        raise UnsupportedError(f"TensorRT {major} builds strongly typed networks only, and this {settings.precision} "
                               f"bundle has no strongly typed ONNX (typed_onnx in {SETTINGS_FILE}); rebuild the "
                               f"bundle with the current `edgeparse deploy --target jetson`")
    return BuildPath(major, typed, True, ())


@dataclass(frozen=True)
class EngineBuildReport:
    """What one ``build_engine`` call produced and with which settings."""

    engine_path: Path
    onnx: str  # the bundle file the engine was built from
    precision: str
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    input_shape: tuple[int, ...]
    profile: ShapeProfile | None
    workspace_mb: int
    tensorrt_version: str
    timing_cache: Path | None
    timing_cache_reused: bool
    build_s: float
    engine_mb: float

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def summary(self) -> str:
        typing_ = "strongly typed" if self.strongly_typed else "flags " + "|".join(self.builder_flags)
        shapes = f"profile {self.profile.describe()}" if self.profile else f"static input {_dims(self.input_shape)}"
        cache = (f"timing cache {self.timing_cache} ({'reused' if self.timing_cache_reused else 'new'})"
                 if self.timing_cache else "no timing cache")
        return (f"built {self.engine_path} ({self.engine_mb:.2f} MB) from {self.onnx} in {self.build_s:.1f} s "
                f"with TensorRT {self.tensorrt_version}: {self.precision}, {typing_}, {shapes}, workspace "
                f"{self.workspace_mb} MB, {cache}")


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _check_precision(precision: str) -> None:
    if precision not in ENGINE_PRECISIONS:
        raise UnsupportedError(f"the jetson target builds {', '.join(ENGINE_PRECISIONS)} engines, not "
                               f"{precision!r} (fp32 runs fastest as fp16 on Jetson; use the onnx target for an "
                               f"FP32 reference)")


def builder_flags(precision: str, strongly_typed: bool) -> tuple[str, ...]:
    """The ``trt.BuilderFlag`` names a TensorRT 10 build sets. A strongly typed network takes none (TensorRT
    rejects precision flags there); weakly typed int8 adds FP16 for the layers Q/DQ leave in float."""
    _check_precision(precision)
    if strongly_typed:
        return ()
    return ("INT8", "FP16") if precision == "int8" else ("FP16",)


def resolve_profile(input_name: str, onnx_dims: tuple[int, ...], input_shape: tuple[int, ...],
                    profile: ShapeProfile | None = None) -> ShapeProfile | None:
    """The optimization profile a build needs, or None for a fully static input.

    ``onnx_dims`` uses -1 for a dynamic dim. A static input must equal ``input_shape`` and takes no
    profile (trtexec refuses explicit shapes for it). A dynamic one gets ``profile`` (default:
    ``input_shape`` for min/opt/max), which must keep the static dims and cover ``input_shape``.
    """
    dims, shape = tuple(onnx_dims), tuple(input_shape)
    if len(dims) != len(shape):
        raise ExportError(f"input {input_name!r} has {len(dims)} dims {list(dims)}; the bundle feeds {list(shape)}")
    if all(d >= 0 for d in dims):
        if dims != shape:
            raise ExportError(f"input {input_name!r} is static {list(dims)} but the bundle feeds {list(shape)}")
        if profile is not None and profile != ShapeProfile.fixed(shape):
            raise ConfigError(f"input {input_name!r} is static {list(dims)}: it takes no optimization profile "
                              f"(got {profile.describe()}); export the ONNX with dynamic axes to use one")
        return None
    chosen = profile or ShapeProfile.fixed(shape)
    chosen.check(len(dims))
    for axis, dim in enumerate(dims):
        if dim >= 0 and {chosen.min_shape[axis], chosen.opt_shape[axis], chosen.max_shape[axis]} != {dim}:
            raise ConfigError(f"optimization profile {chosen.describe()}: dim {axis} of input {input_name!r} "
                              f"is fixed to {dim} in the ONNX")
    if not chosen.covers(shape):
        raise ConfigError(f"optimization profile {chosen.describe()} does not cover the bundle input {_dims(shape)}")
    return chosen


def build_engine(settings: EngineBuildSettings, folder: str | Path, timing_cache_path: str | Path | None = None,
                 workspace_mb: int | None = None) -> EngineBuildReport:
    """Build ``folder/settings.engine`` from the bundle ONNX that the TensorRT found here takes (``build_path``).

    The timing cache at ``timing_cache_path`` is read if present and written back after the build;
    ``workspace_mb`` overrides the settings'. Raises ``BackendUnavailable`` without TensorRT or a GPU,
    ``UnsupportedError`` for a TensorRT this bundle has no input for, ``ExportError`` when parsing or
    building fails.
    """
    folder = Path(folder)
    workspace_mb = workspace_mb or settings.workspace_mb
    if workspace_mb < 1:
        raise ConfigError(f"workspace_mb must be >= 1, got {workspace_mb}")
    _check_precision(settings.precision)
    trt = _import_tensorrt()
    path = build_path(settings, tensorrt_major(trt.__version__))
    onnx_path, engine_path = folder / path.onnx, folder / settings.engine
    if not onnx_path.is_file():
        raise ExportError(f"ONNX model {onnx_path} not found")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = _create_builder(trt, logger)
    network = builder.create_network(_network_flags(trt, path.strongly_typed))
    _parse(trt.OnnxParser(network, logger), onnx_path)
    resolved = _check_network_io(network, onnx_path, settings.input_name, tuple(settings.input_shape),
                                 settings.profile)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    _set_builder_flags(trt, config, path.builder_flags)
    if resolved is not None:
        _add_profile(builder, config, settings.input_name, resolved)
    cache_path = Path(timing_cache_path) if timing_cache_path else None
    reused = _attach_timing_cache(config, cache_path) if cache_path else False
    log.info("building a %s TensorRT %s engine (%s; this takes minutes on a Jetson)", settings.precision,
             trt.__version__, path.describe())
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - start
    if serialized is None:
        raise ExportError(f"TensorRT {trt.__version__} could not build an engine from {onnx_path} "
                          f"({settings.precision}); the TensorRT log above says why")
    atomic_write_bytes(engine_path, bytes(serialized))
    if cache_path:
        atomic_write_bytes(cache_path, bytes(config.get_timing_cache().serialize()))
    return EngineBuildReport(engine_path, path.onnx, settings.precision, path.strongly_typed, path.builder_flags,
                             tuple(settings.input_shape), resolved, workspace_mb, trt.__version__, cache_path,
                             reused, build_s, engine_path.stat().st_size / 1e6)


def _network_flags(trt: Any, strongly_typed: bool) -> int:
    """``create_network`` flags. STRONGLY_TYPED is required on TensorRT 10; 11 keeps it as an ignored,
    deprecated flag (every network is strongly typed there), and a release without it needs none."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if strongly_typed and flag is not None else 0


def _import_tensorrt() -> Any:
    from edge.backends import import_library

    try:
        return import_library("tensorrt")
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc}. {ON_DEVICE}: copy the bundle there and run build_engine.sh "
                                 f"(or edgeparse build-engine)") from exc


def _create_builder(trt: Any, logger: Any) -> Any:
    """``trt.Builder`` fails (pybind returns no object) when CUDA cannot initialise: no GPU or driver."""
    try:
        builder = trt.Builder(logger)
    except (TypeError, RuntimeError) as exc:
        raise BackendUnavailable(_no_gpu(trt, str(exc))) from exc
    if builder is None:
        raise BackendUnavailable(_no_gpu(trt, "no builder returned"))
    return builder


def _no_gpu(trt: Any, reason: str) -> str:
    return (f"TensorRT {trt.__version__} is installed but cannot create a builder ({reason}): this machine "
            f"has no usable NVIDIA GPU/driver. {ON_DEVICE}: run build_engine.sh there")


def _parse(parser: Any, onnx_path: Path) -> None:
    """Parse the ONNX (``path`` lets the parser find external weights); list every parser error."""
    if parser.parse(onnx_path.read_bytes(), str(onnx_path)):
        return
    errors = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        errors.append(f"node {error.node()} {error.node_name()!r} ({error.node_operator()}): "
                      f"{error.code()}: {error.desc()}")
    listed = "; ".join(errors) or "no error recorded"
    raise ExportError(f"TensorRT's ONNX parser rejected {onnx_path} ({len(errors)} error(s)): {listed}")


def _check_network_io(network: Any, onnx_path: Path, input_name: str, input_shape: tuple[int, ...],
                      profile: ShapeProfile | None) -> ShapeProfile | None:
    """TensorRtRunner feeds one tensor named ``input_name`` and reads one output."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if [t.name for t in inputs] != [input_name] or network.num_outputs != 1:
        outputs = [network.get_output(i).name for i in range(network.num_outputs)]
        raise ExportError(f"{onnx_path}: expected one input {input_name!r} and one output, the network has "
                          f"inputs {[t.name for t in inputs]} and outputs {outputs}")
    return resolve_profile(input_name, tuple(inputs[0].shape), input_shape, profile)


def _set_builder_flags(trt: Any, config: Any, flags: tuple[str, ...]) -> None:
    for flag in flags:
        if not hasattr(trt.BuilderFlag, flag):  # build_path asks for flags only where TensorRT 10 has them
            raise UnsupportedError(f"TensorRT {trt.__version__} has no BuilderFlag.{flag}: set strongly_typed or "
                                   f"use a TensorRT with weak typing (10.x)")
        config.set_flag(getattr(trt.BuilderFlag, flag))


def _add_profile(builder: Any, config: Any, input_name: str, profile: ShapeProfile) -> None:
    optimization_profile = builder.create_optimization_profile()
    optimization_profile.set_shape(input_name, profile.min_shape, profile.opt_shape, profile.max_shape)
    if config.add_optimization_profile(optimization_profile) < 0:
        raise ConfigError(f"TensorRT rejected the optimization profile {profile.describe()} for {input_name!r}")


def _attach_timing_cache(config: Any, path: Path) -> bool:
    """Load the cache at ``path`` into ``config``; True if an existing cache was reused.

    A cache from another GPU or TensorRT version does not match: TensorRT then starts a new one.
    """
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return bool(data)
    log.warning("timing cache %s does not match this GPU/TensorRT version; starting a new one", path)
    config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    return False


def build_bundle_engine(bundle_dir: str | Path, workspace_mb: int | None = None,
                        timing_cache: str | Path | None = None) -> EngineBuildReport:
    """On the device: build a jetson bundle's engine from its ONNX and record it first in the manifest.

    ``timing_cache`` defaults to ``timing.cache`` in the bundle; share one path between bundles to reuse
    tactic timings. Any earlier engine is replaced.
    """
    trt = _import_tensorrt()  # fail before touching the bundle on a host without TensorRT
    root, settings = _open_for_engine(bundle_dir, tensorrt_major(trt.__version__))
    report = build_engine(settings, root, Path(timing_cache) if timing_cache else root / TIMING_CACHE_FILE,
                          workspace_mb)
    _record_engine(root, settings, report.tensorrt_version, "edgeparse build-engine (TensorRT Python API)")
    return report


def adopt_engine(bundle_dir: str | Path, engine_file: str | Path) -> Path:
    """Record an engine that trtexec built from this bundle (``build_engine.sh``) in the manifest."""
    source = Path(engine_file)
    if not source.is_file() or source.stat().st_size == 0:
        raise ExportError(f"engine {source} not found or empty: did trtexec fail? (see its output)")
    root, settings = _open_for_engine(bundle_dir)
    target = root / settings.engine
    if source.resolve() != target.resolve():
        atomic_write_bytes(target, source.read_bytes())
    _record_engine(root, settings, _tensorrt_version(), "trtexec (build_engine.sh)")
    return target


def _tensorrt_version() -> str:
    """The device's TensorRT version, for the manifest; trtexec may run where the Python bindings are not."""
    try:
        return str(_import_tensorrt().__version__)
    except BackendUnavailable:
        return "unknown (engine built by trtexec; TensorRT Python bindings not installed)"


def _open_for_engine(bundle_dir: str | Path, major: int | None = None) -> tuple[Path, EngineBuildSettings]:
    """Check that ``bundle_dir`` is a jetson bundle (with an input for TensorRT ``major``, when given); drop a
    previous engine from its manifest (it is being replaced) and verify every other file's checksum."""
    root = Path(bundle_dir)
    manifest = load_manifest(root)
    if manifest.target != "jetson" or manifest.backend != "tensorrt":
        raise ConfigError(f"{root} is a {manifest.target}/{manifest.backend} bundle; build-engine takes a "
                          f"jetson/tensorrt bundle (edgeparse deploy --target jetson)")
    if SETTINGS_FILE not in manifest.artifacts:
        raise ConfigError(f"{root}: no {SETTINGS_FILE} in the manifest; rebuild the bundle with: "
                          f"{manifest.build_command}")
    if major is not None:
        build_path(EngineBuildSettings.load(root / SETTINGS_FILE), major)  # refuse before touching the manifest
    engines = [rel for rel in manifest.artifacts if rel.endswith(ENGINE_SUFFIX)]
    if engines:
        sources = {rel: sha for rel, sha in manifest.artifacts.items() if rel not in engines}
        unregistered = dataclasses.replace(manifest, artifacts=sources, notes=_notes(root, ENGINE_MISSING))
        _save_manifest(root, unregistered)
    load_bundle(root)
    return root, EngineBuildSettings.load(root / SETTINGS_FILE)


def _record_engine(root: Path, settings: EngineBuildSettings, version: str, how: str) -> None:
    manifest = load_manifest(root)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = f"Engine {settings.engine} built on this device by {how}, TensorRT {version}{_path_note(settings, version)}, {stamp}."
    artifacts = {settings.engine: file_sha256(root / settings.engine), **manifest.artifacts}
    tools = {**manifest.tool_versions, "tensorrt": version}
    _save_manifest(root, dataclasses.replace(manifest, artifacts=artifacts, backend_version=version,
                                             tool_versions=tools, notes=_notes(root, note)))
    load_bundle(root)  # the engine is now the model file; re-verify the whole bundle
    log.info("recorded %s in %s", settings.engine, root / MANIFEST_FILE)


def _path_note(settings: EngineBuildSettings, version: str) -> str:
    """`` (TensorRT 10 path: ...)`` for the manifest note; empty when the version or path is unknown."""
    try:
        return f" ({build_path(settings, tensorrt_major(version)).describe()})"
    except UnsupportedError:  # trtexec run by hand, without the Python bindings or outside build_engine.sh
        return ""


def _save_manifest(root: Path, manifest: Manifest) -> None:
    atomic_write_text(root / MANIFEST_FILE, manifest.to_json())


def lint_summary(root: Path) -> str:
    """One line about ``qdq_lint.json`` of a bundle, for the manifest notes."""
    path = root / LINT_FILE
    if not path.is_file():
        return "QDQ lint: not applicable (fp16 is built from the FP32 or the FP16 ONNX, which have no Q/DQ nodes)."
    data = json.loads(path.read_text())
    verdict = "OK" if data["ok"] else f"{len(data['findings'])} finding(s)"
    return (f"QDQ lint (TensorRT explicit quantization, {LINT_FILE}): {verdict}; {data['quantize_nodes']} "
            f"QuantizeLinear / {data['dequantize_nodes']} DequantizeLinear, opset {data['opset']}.")


def _notes(root: Path, engine_line: str) -> str:
    return f"{engine_line} {lint_summary(root)}"
