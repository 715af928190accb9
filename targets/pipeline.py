"""``edgeparse deploy``: checkpoint → FP32 ONNX → one bundle per (target, precision) → parity → benchmark → one table.

For every job: check the graph for the target, lower, ``write_bundle``, ``load_bundle`` (checksums),
``open_runner``, ``validate_bundle`` on the bundle's own validation set, ``benchmark``, one row; the
verdict is sealed into the bundle (``parity.json``). Each bundle is built, checked and sealed in a hidden
staging folder and then swapped in (``edge.io.replace_dir``), so an interrupted run (Ctrl-C, ``kill -9``,
a full disk) leaves the previous bundle as it was; the next run removes what it left (``clean_leftovers``),
and a lock on the output folder keeps two runs from writing into it at once (``locked_out_dir``).
An int8 bundle that fails its per-class gate is rebuilt with its most sensitive layers float (``targets.fallback``); the first passing variant is kept
and every attempt is a row. At the end each target's fastest passing bundle is recommended (★, and a
``<model>_<target>_best.json`` pointer).
A job that cannot be built or run here becomes a row with a status and a reason
(``export_failed``, ``unavailable``, ``skipped``); only ``EdgeparseError`` subclasses are turned
into rows, so a bug still stops the run with its traceback. Progress goes to ``emit`` as numbered
stage lines (``[4/11] cpu int8: ...``); long stages show their own tqdm bars.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.backends import open_runner
from edge.bench import BenchResult, benchmark, host_info
from edge.bundle import (
    MANIFEST_FILE,
    PARITY_FILE,
    VALIDATION_FILE,
    BestPointer,
    Bundle,
    ValidationSource,
    best_pointer_path,
    load_bundle,
    load_manifest,
    write_best_pointer,
    write_bundle,
)
from edge.config import save_config, to_dict
from edge.errors import BackendUnavailable, BundleError, ConfigError, ExportError, UnsupportedError
from edge.io import TEMP_MARK, clean_leftovers, exclusive_lock, file_sha256, replace_dir, temp_path_for
from edge.parity import ParityResult, record_parity, validate_bundle
from edge.preprocess import Normalization, normalize, resize_image
from edge.report import (
    BenchmarkRow,
    Report,
    make_row,
    mark_recommended,
    with_speedups,
    write_json,
    write_markdown,
    write_plot,
)
from edge.video.flicker_gate import ClipFlicker, clip, clip_flicker, flicker_checks
from targets import fallback, load_target
from targets.base import LowerRequest, tool_versions
from targets.config import DeployCfg
from targets.formats import Format, find_format

log = logging.getLogger(__name__)
Emit = Callable[[str], None]
FAILED_STATUSES = ("parity_failed", "export_failed")


@dataclass(frozen=True)
class Job:
    target: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.target} {self.precision}"

    @property
    def format(self) -> Format:
        return find_format(self.target, self.precision)


def plan_jobs(targets: list[str], cfg: DeployCfg, precisions: list[str] | None = None) -> list[Job]:
    """The (target, precision) pairs to build: the config's precisions of each target, filtered by
    ``precisions``. A precision asked for explicitly that a single target lacks is an error."""
    jobs = []
    for target in targets:
        configured = cfg.precisions.of(target)
        if precisions is not None and len(targets) == 1:
            for precision in precisions:
                find_format(target, precision)  # UnsupportedError names what the target builds
        jobs += [Job(target, p) for p in configured if precisions is None or p in precisions]
    if not jobs:
        raise ConfigError(f"nothing to build: targets {targets} with precisions {precisions}; the config "
                          f"builds {[(t, cfg.precisions.of(t)) for t in targets]}")
    return jobs


class Stages:
    """Numbered progress lines; a job that ends early skips its remaining stages."""

    def __init__(self, total: int, emit: Emit):
        self.total, self.emit, self.index = total, emit, 0

    def __call__(self, text: str) -> None:
        self.index += 1
        self.emit(f"[{self.index}/{self.total}] {text}")

    def skip_to(self, index: int) -> None:
        self.index = max(self.index, index)

    def extend(self, count: int) -> None:
        """``count`` more stages than planned (a mixed-precision fallback attempt)."""
        self.total += count


@dataclass
class Outcome:
    """One row and what produced it."""

    job: Job
    row: BenchmarkRow
    bundle_dir: Path | None = None
    parity: ParityResult | None = None
    bench: BenchResult | None = None
    host_check: bool = False  # a host-side accuracy row of a bundle whose runtime is on the device
    float_layers: tuple[str, ...] = ()  # kept float by the mixed-precision fallback (torch module paths)
    superseded: bool = False  # a failed attempt the fallback replaced; its bundle folder holds the next one

    @property
    def label(self) -> str:
        label = self.job.label + (f" +{len(self.float_layers)} float" if self.float_layers else "")
        label += " host check" if self.host_check else ""
        return label + (" (superseded)" if self.superseded else "")

    def details(self) -> dict[str, Any]:
        return {"bundle": None if self.superseded or not self.bundle_dir else str(self.bundle_dir),
                "float_layers": list(self.float_layers), "superseded": self.superseded,
                "parity": self.parity.to_dict() if self.parity else None,
                "benchmark": self.bench.to_dict() if self.bench else None}


@dataclass
class DeployResult:
    outcomes: list[Outcome]
    settings: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[BenchmarkRow]:
        return mark_recommended(with_speedups([o.row for o in self.outcomes]))

    @property
    def failed(self) -> bool:
        """A row failed; an attempt the mixed-precision fallback superseded fails nothing."""
        return any(row.status in FAILED_STATUSES and not row.superseded for row in self.rows)

    def worst_parity(self) -> ParityResult | None:
        """The parity result whose worst class lost most F1 (the one worth plotting)."""
        results = [o.parity for o in self.outcomes if o.parity is not None and o.parity.worst_class is not None]
        return min(results, key=lambda p: p.worst_class.delta_f1_pts, default=None)


def _status_row(job: Job, status: str, reason: str) -> Outcome:
    return Outcome(job, BenchmarkRow(job.format.backend, job.precision, status, reason=reason,
                                     inference_precision=job.format.inference_precision))


def check_bundle(bundle_dir: Path, job: Job, cfg: DeployCfg, stages: Stages,
                 reference_flicker: Callable[[Bundle], ClipFlicker] | None = None) -> Outcome:
    """Load (checksums), validate and benchmark one bundle into its row (2 stages); with
    ``reference_flicker`` (the FP32 reference's flicker on the clip) the flicker gate joins parity."""
    end = stages.index + 2
    stages(f"{job.label}: parity on the bundle's validation set")
    try:
        bundle = load_bundle(bundle_dir)
    except BundleError as exc:
        stages.skip_to(end)
        return _status_row(job, "export_failed", str(exc))
    if bundle.model_path.suffix != job.format.suffix:
        stages.skip_to(end)
        reason = bundle.manifest.notes or f"the bundle holds no {job.format.suffix} model to run here"
        return Outcome(job, dataclasses.replace(make_row(bundle), status="skipped", reason=reason), bundle_dir)
    try:
        parity, bench, flicker = _validate_and_bench(bundle, job, cfg, stages, reference_flicker)
    except BackendUnavailable as exc:
        stages.skip_to(end)
        return Outcome(job, dataclasses.replace(make_row(bundle), status="unavailable", reason=str(exc)),
                       bundle_dir)
    except UnsupportedError as exc:  # e.g. a bf16 bundle on a CPU without native bf16: built, not run here
        stages.skip_to(end)
        return Outcome(job, dataclasses.replace(make_row(bundle), status="skipped", reason=str(exc)),
                       bundle_dir)
    row = make_row(bundle, parity, bench, flicker=flicker)
    if job.target == "onnx" and row.status == "ok":
        row = dataclasses.replace(row, reason="FP32 reference (the numbers every row is compared with)")
    return Outcome(job, row, bundle_dir, parity, bench)


def _host_rows(outcome: Outcome, cfg: DeployCfg, stages: Stages) -> list[Outcome]:
    """The host-side accuracy row that follows ``outcome`` when its format has one (1 stage)."""
    job = outcome.job
    if job.format.host_check is None:
        return []
    if outcome.bundle_dir is None or outcome.row.status == "export_failed":  # no readable bundle to check
        stages.skip_to(stages.index + 1)
        return []
    return [host_check(outcome.bundle_dir, job, cfg, stages)]


def host_check(bundle_dir: Path, job: Job, cfg: DeployCfg, stages: Stages) -> Outcome:
    """Score a bundle whose runtime is on the device (jetson) on this host: the ``Format.host_check``
    runner runs the target's ``host_model`` (the ONNX the device builds from) on the bundle's validation
    set, gated by the bundle's thresholds like every row. No latency: this host's speed is not the device's."""
    backend = job.format.host_check
    stages(f"{job.label}: host-side accuracy, {backend} on this host (not {job.format.backend})")
    bundle = load_bundle(bundle_dir)
    base = dataclasses.replace(make_row(bundle), format=f"host:{backend}")
    note = f"host-side {backend} check, not {job.format.backend}"
    try:
        model = load_target(job.target).host_model(bundle)
        with open_runner(bundle, threads=cfg.bench.threads, backend=backend, model=model) as runner:
            parity = validate_bundle(bundle, runner, progress=True)
    except (BackendUnavailable, UnsupportedError, BundleError) as exc:
        status = ("unavailable" if isinstance(exc, BackendUnavailable) else
                  "skipped" if isinstance(exc, UnsupportedError) else "export_failed")
        return Outcome(job, dataclasses.replace(base, status=status, reason=f"{note}: {exc}"), bundle_dir,
                       host_check=True)
    row = make_row(bundle, parity)
    row = dataclasses.replace(row, format=base.format, size_mb=model.stat().st_size / 1e6,
                              reason=f"{note}: {model.name}; {row.reason}")
    return Outcome(job, row, bundle_dir, parity, host_check=True)


def _validate_and_bench(bundle: Bundle, job: Job, cfg: DeployCfg, stages: Stages,
                        reference_flicker: Callable[[Bundle], ClipFlicker] | None = None
                        ) -> tuple[ParityResult, BenchResult | None, ClipFlicker | None]:
    b = cfg.bench
    image = bundle.validation.images[0]
    norm = bundle.manifest.input.normalization
    flicker = None
    with open_runner(bundle, threads=b.threads, mode=b.mode) as runner:
        parity = validate_bundle(bundle, runner, progress=True)
        if parity.non_finite_images:  # NaN/Inf out: the row fails; nothing worth timing or watching flicker
            stages.skip_to(stages.index + 1)
            return parity, None, None
        if reference_flicker is not None and cfg.flicker.enabled:
            flicker = clip_flicker(runner, norm, clip(cfg.flicker.frames))
            checks = flicker_checks(flicker, reference_flicker(bundle), cfg.flicker.max_increase_pts)
            parity = dataclasses.replace(parity, checks=parity.checks + checks)
        stages(f"{job.label}: benchmark ({b.warmup} warm-up + {b.runs} runs, {b.threads} threads, {b.mode})")
        bench = benchmark(runner, normalize(image, norm)[None], warmup=b.warmup, runs=b.runs, mode=b.mode,
                          e2e_image=resize_image(image, b.e2e_size), normalization=norm)
    return parity, bench, flicker


@dataclass
class _Build:
    """What every job of one deploy run shares."""

    checkpoint: Path
    cfg: DeployCfg
    out_dir: Path
    work_dir: Path
    rebuild_command: str
    payload: dict[str, Any]
    model: Any
    onnx_path: Path
    validation: Any
    calibration: Callable[[], list]
    tools: dict[str, str]
    schema: Any  # the checkpoint's LabelSchema
    validation_source: ValidationSource  # recorded in every manifest
    probe_images: Callable[[], list] = list  # training images after the calibration ones (the fallback's ranking)
    ranking: fallback.Rankings = field(default_factory=dict)  # layer sensitivity per quantizer family
    flicker_reference: ClipFlicker | None = None  # measured once per run, by the first bundle checked

    @property
    def model_name(self) -> str:
        return str(self.payload["model_name"])

    def bundle_dir(self, job: Job) -> Path:
        return self.out_dir / f"{self.model_name}_{job.target}_{job.precision}"

    def reference_flicker(self, bundle: Bundle) -> ClipFlicker:
        """The FP32 ONNX's flicker on the clip under onnxruntime, read as ``bundle`` (any bundle of this
        run: they share the input and schema)."""
        if self.flicker_reference is None:
            with open_runner(bundle, threads=self.cfg.bench.threads, backend="onnxruntime",
                             model=self.onnx_path) as runner:
                self.flicker_reference = clip_flicker(runner, Normalization(), clip(self.cfg.flicker.frames))
        return self.flicker_reference


def _prepare(checkpoint: Path, cfg: DeployCfg, out_dir: Path, work_dir: Path, rebuild_command: str,
             stages: Stages) -> tuple[_Build, dict[str, Any]]:
    from targets.export import OPSET, check_export_parity, export_onnx
    from targets.validation import build_validation_set, calibration_images, open_sources
    from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of

    size = cfg.input_size
    stages(f"export: {checkpoint} → FP32 ONNX 1x3x{size}x{size} (opset {OPSET}, onnxslim, graph hygiene)")
    payload = load_checkpoint(checkpoint)
    sources = open_sources(payload, cfg)  # before the export: a missing data folder fails fast
    model = build_model_from_checkpoint(payload).eval()
    onnx_path = export_onnx(model, size, work_dir / f"{payload['model_name']}_fp32.onnx")
    stages(f"validation set: {cfg.validation_images} images from {sources.description} + FP32 reference "
           f"(onnxruntime)")
    validation = build_validation_set(sources.validation, schema_of(payload), onnx_path, size,
                                      cfg.validation_images, threads=cfg.bench.threads)
    x = normalize(validation.images[0])[None]
    delta = check_export_parity(model, onnx_path, x)
    calibration = functools.cache(lambda: calibration_images(sources.calibration, size, cfg.calibration_images))
    held_out = functools.cache(lambda: calibration_images(sources.calibration, size, cfg.calibration_images
                                                          + fallback.SENSITIVITY_IMAGES)[cfg.calibration_images:])
    source = sources.record(validation)
    build = _Build(checkpoint, cfg, out_dir, work_dir, rebuild_command, payload, model, onnx_path, validation,
                   calibration, tool_versions(), schema_of(payload), source, held_out)
    details = {"checkpoint": {"path": str(checkpoint), "sha256": file_sha256(checkpoint),
                              "model": build.model_name},
               "export": {"opset": OPSET, "max_abs_delta_torch_vs_onnx": delta},
               "validation": {"images": len(validation), **dataclasses.asdict(source)}}
    return build, details


def _build_job(build: _Build, job: Job, stages: Stages, staged: Path,
               float_layers: tuple[str, ...] = ()) -> Outcome:
    """Lower ``job`` and write its bundle into the staging folder ``staged``, then check it there."""
    end = stages.index + 3
    stages(f"{job.label}: {job.format.how}" if not float_layers else
           f"{job.label}: mixed-precision fallback, float: {', '.join(float_layers)}")
    try:
        module = load_target(job.target)
    except UnsupportedError as exc:
        stages.skip_to(end)
        return _status_row(job, "skipped", str(exc))
    bundle_dir = build.bundle_dir(job)
    try:
        from targets.export import check_target_graph

        _check_replaceable(bundle_dir)
        check_target_graph(build.onnx_path, job.target, module.GRAPH_RULES)
        lowered = module.lower(_request(build, job, float_layers))
        quantization = {**lowered.quantization, **fallback.manifest_entry(build.ranking, job.target, float_layers)}
        write_bundle(
            staged, name=bundle_dir.name, target=job.target, backend=job.format.backend,
            precision=job.precision, schema=build.schema, normalization=Normalization(),
            source_checkpoint=build.checkpoint, artifacts=lowered.artifacts, validation=build.validation,
            validation_source=build.validation_source,
            backend_version=lowered.backend_version,
            build_command=f"{build.rebuild_command} --target {job.target} --precisions {job.precision}",
            tool_versions=build.tools, parity_thresholds=build.cfg.thresholds.of(job.precision),
            quantization=quantization, inference_precision=job.format.inference_precision,
            notes=lowered.notes)
    except BackendUnavailable as exc:
        stages.skip_to(end)
        return _status_row(job, "unavailable", str(exc))
    except (ExportError, UnsupportedError, BundleError) as exc:
        log.error("%s: %s", job.label, exc)
        stages.skip_to(end)
        return _status_row(job, "export_failed", str(exc))
    return check_bundle(staged, job, build.cfg, stages, build.reference_flicker)


def _request(build: _Build, job: Job, float_layers: tuple[str, ...] = ()) -> LowerRequest:
    return LowerRequest(job.target, job.precision, build.onnx_path, build.model, build.calibration,
                        build.checkpoint, build.work_dir, build.bundle_dir(job).name, build.cfg, float_layers)


def _attempt(build: _Build, job: Job, stages: Stages, float_layers: tuple[str, ...]) -> list[Outcome]:
    """Build, check and seal one variant of ``job`` in a staging folder (its row and, for a device-side
    format, its host row), then swap it in for the bundle; until then the previous bundle is untouched."""
    final, staged = build.bundle_dir(job), temp_path_for(build.bundle_dir(job))
    try:
        outcome = _build_job(build, job, stages, staged, float_layers)
        outcomes = _sealed([dataclasses.replace(o, float_layers=float_layers,
                                                row=dataclasses.replace(o.row, float_layers=float_layers))
                            for o in [outcome, *_host_rows(outcome, build.cfg, stages)]])
        if outcome.bundle_dir is None:  # nothing was built: the previous bundle stays
            return outcomes
        replace_dir(outcome.bundle_dir, final)
    finally:
        if staged.exists():  # a variant that failed to build, or an interrupt (KeyboardInterrupt)
            shutil.rmtree(staged)
    return [dataclasses.replace(o, bundle_dir=final) for o in outcomes]


def _job_outcomes(build: _Build, job: Job, stages: Stages) -> list[Outcome]:
    """The rows of one job. An int8 variant that fails its per-class gate is rebuilt with the most sensitive
    layers float (bounded); the first passing variant is kept and the attempts before it are superseded."""
    attempts: list[list[Outcome]] = []

    def attempt(float_layers: tuple[str, ...]) -> bool:
        if float_layers:
            stages.extend(3 + _host_stages([job]))
        attempts.append(_attempt(build, job, stages, float_layers))
        return not fallback.gate_failed(attempts[-1])

    def rank() -> list[str]:
        stages.extend(1)
        stages(f"{job.label}: parity failed; ranking layers by int8 sensitivity for the mixed-precision fallback")
        return fallback.rank_layers(_request(build, job), build.ranking, build.probe_images())

    fallback.search(attempt, rank, build.cfg, job.target, job.precision)
    superseded = [dataclasses.replace(o, superseded=True, row=dataclasses.replace(o.row, superseded=True))
                  for tried in attempts[:-1] for o in tried]
    return superseded + attempts[-1]


def _sealed(outcomes: list[Outcome]) -> list[Outcome]:
    """Record each validated outcome's verdict in its bundle (``parity.json``, sealed by the manifest)."""
    for o in outcomes:
        if o.parity is None or o.bundle_dir is None:
            continue  # not validated here: the bundle keeps the not_validated record write_bundle wrote
        bundle = load_bundle(o.bundle_dir)
        if o.host_check:
            record_parity(bundle, o.parity, "edgeparse deploy (host-side check)", host_side=True,
                          model=load_target(o.job.target).host_model(bundle), backend=o.job.format.host_check)
        else:
            record_parity(bundle, o.parity, "edgeparse deploy")
    return outcomes


def _check_replaceable(path: Path) -> None:
    """A deploy replaces a previous bundle at ``path``, or the files of one whose writing an older edgeparse
    left unfinished (no manifest yet), never a folder of other files."""
    if not path.exists() or (path / MANIFEST_FILE).is_file():
        return
    others = [p.name for p in path.iterdir() if not _bundle_file(path, p.name)]
    if others:
        raise BundleError(f"{path} exists and is not a deploy bundle (it holds {', '.join(sorted(others)[:3])}); "
                          f"move it away or choose another --out")


def _bundle_file(bundle_dir: Path, name: str) -> bool:
    """A file a bundle write creates: the validation set, the verdict, an artifact (named after the
    bundle) or a temporary file of an interrupted write."""
    return (name in (VALIDATION_FILE, PARITY_FILE) or name.startswith(bundle_dir.name)
            or name.endswith(".tmp") or TEMP_MARK in name)


@contextmanager
def locked_out_dir(out_dir: Path, command: str) -> Iterator[None]:
    """Hold ``out_dir``'s lock for a whole deploy run (bundles, verdicts, reports) and first clean up what an
    interrupted run left there (staging folders, work folders, temporary files)."""
    with exclusive_lock(out_dir, command, "wait for it to finish, or give this run another --out"):
        clean_leftovers(out_dir)
        for work in out_dir.glob(".deploy-work-*"):  # work folders of edgeparse versions before TEMP_MARK
            shutil.rmtree(work)
            log.warning("removed %s (left by an interrupted run)", work)
        yield


def _settings(cfg: DeployCfg, outcomes: list[Outcome]) -> dict[str, Any]:
    size = cfg.input_size
    return {"bench": to_dict(cfg.bench), "input_shape": [1, 3, size, size], "host": host_info(),
            "runners": {o.job.label: o.bench.settings["runner"] for o in outcomes if o.bench}}


def deploy(checkpoint: Path, cfg: DeployCfg, jobs: list[Job], out_dir: Path, rebuild_command: str,
           emit: Emit) -> DeployResult:
    """Build, validate and benchmark every job; bundles land in ``out_dir/<model>_<target>_<precision>``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "deploy_config.yaml")
    stages = Stages(2 + 3 * len(jobs) + _host_stages(jobs), emit)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix=".deploy-work-", suffix=TEMP_MARK, dir=out_dir) as work:
        build, details = _prepare(checkpoint, cfg, out_dir, Path(work), rebuild_command, stages)
        for job in jobs:
            outcomes += _job_outcomes(build, job, stages)
    details.update(deploy_config=to_dict(cfg), bundles={o.label: o.details() for o in outcomes})
    return DeployResult(outcomes, _settings(cfg, outcomes), details)


def _host_stages(jobs: list[Job]) -> int:
    return sum(job.format.host_check is not None for job in jobs)


def find_bundle(out_dir: Path, job: Job, checkpoint_sha256: str | None) -> Path | None:
    """The one bundle of ``job`` under ``out_dir`` (from ``checkpoint_sha256`` when given)."""
    found = []
    for manifest_file in sorted(out_dir.glob(f"*_{job.target}_{job.precision}/{MANIFEST_FILE}")):
        manifest = load_manifest(manifest_file.parent)
        if manifest.target == job.target and manifest.precision == job.precision and (
                checkpoint_sha256 is None or manifest.source_checkpoint.sha256 == checkpoint_sha256):
            found.append(manifest_file.parent)
    if len(found) > 1:
        raise ConfigError(f"{len(found)} {job.label} bundles in {out_dir}: {[str(p) for p in found]}; pass "
                          f"--checkpoint to pick the one built from it")
    return found[0] if found else None


def bench_only(cfg: DeployCfg, jobs: list[Job], out_dir: Path, checkpoint: Path | None,
               emit: Emit) -> DeployResult:
    """Validate and benchmark the bundles a previous ``edgeparse deploy`` left in ``out_dir``."""
    sha = file_sha256(checkpoint) if checkpoint else None
    found = {job.label: find_bundle(out_dir, job, sha) for job in jobs}
    if not any(found.values()):  # nothing to check is a mistake, not a pass
        targets = sorted({job.target for job in jobs})
        raise BundleError(f"--bench-only found no bundle in {out_dir} for {', '.join(j.label for j in jobs)}"
                          f"{' built from ' + str(checkpoint) if checkpoint else ''}; build them first with "
                          f"`edgeparse deploy --target {targets[0] if len(targets) == 1 else 'all'} --out {out_dir}`")
    stages = Stages(2 * len(jobs) + _host_stages(jobs), emit)
    outcomes: list[Outcome] = []
    for job in jobs:
        bundle_dir = found[job.label]
        if bundle_dir is None:
            stages.skip_to(stages.index + 2)
            outcome = _status_row(job, "skipped", f"no {job.label} bundle in {out_dir}; build it with "
                                  f"`edgeparse deploy --target {job.target} --precisions {job.precision}`")
        else:
            outcome = check_bundle(bundle_dir, job, cfg, stages)
        outcomes += _sealed([outcome, *_host_rows(outcome, cfg, stages)])
    details = {"mode": "bench-only", "bundles": {o.label: o.details() for o in outcomes}}
    return DeployResult(outcomes, _settings(cfg, outcomes), details)


def write_reports(result: DeployResult, out_dir: Path, command: dict[str, Any]) -> list[Path]:
    """``report.json`` (command, settings, results), ``report.md``, ``report.png`` and the best pointers
    (``<model>_<target>_best.json``) in ``out_dir``."""
    parity, rows = result.worst_parity(), result.rows
    recommended = write_best_pointers(result, out_dir)
    details = {**result.details, "recommended": recommended}
    paths = [write_json(out_dir / "report.json", Report(command, result.settings, rows, details)),
             write_markdown(out_dir / "report.md", rows, parity, recommend=True)]
    if parity is not None or any(r.latency_p50_ms is not None for r in rows):
        paths.append(write_plot(out_dir / "report.png", rows, parity))
    return paths + [Path(entry["pointer"]) for entry in recommended.values() if entry]


def write_best_pointers(result: DeployResult, out_dir: Path) -> dict[str, dict[str, Any] | None]:
    """Point ``<model>_<target>_best.json`` at each target's recommended bundle; a target of this run without
    one loses its old pointer (it would name a bundle this run did not choose). Returns target -> pointer."""
    written: dict[str, dict[str, Any] | None] = {}
    for outcome, row in zip(result.outcomes, result.rows):
        folder = outcome.bundle_dir
        if row.target is None or folder is None or folder.parent != out_dir or row.superseded:
            continue
        model = folder.name.removesuffix(f"_{row.target}_{row.precision}")  # bundle_dir's naming
        path = best_pointer_path(out_dir, model, row.target)
        if row.recommended:
            pointer = BestPointer(folder.name, row.target, row.precision, file_sha256(folder / MANIFEST_FILE),
                                  row.latency_p50_ms, row.float_layers, result.settings["host"]["cpu"],
                                  "the fastest bundle (p50) of this target that passed every gate in this run")
            written[row.target] = {"pointer": str(write_best_pointer(path, pointer)), **dataclasses.asdict(pointer)}
        elif row.target not in written:
            written[row.target] = None
            path.unlink(missing_ok=True)
    return written


def format_settings(result: DeployResult) -> str:
    """The benchmark settings line printed above the table."""
    s = result.settings
    b, host = s["bench"], s["host"]
    shape = "x".join(map(str, s["input_shape"]))
    return (f"bench: input {shape} float32, {b['threads']} threads, {b['warmup']} warm-up + {b['runs']} runs, "
            f"mode {b['mode']}, e2e frame {b['e2e_size'][0]}x{b['e2e_size'][1]}; host {host['cpu']} "
            f"({host['logical_cpus']} logical CPUs)")


def format_validation_note(result: DeployResult) -> str | None:
    """A line under the table when a validation set had no ground truth (its mIoU cells are empty)."""
    if all(o.parity is None or o.parity.ground_truth for o in result.outcomes):
        return None
    return ("validation set without ground truth: mIoU is '-'; ΔmIoU / worst ΔF1 score each bundle against "
            "the FP32 labels (a worst-case bound, reported only) and the pixel agreement gates")


__all__ = ["DeployResult", "Job", "Outcome", "Stages", "bench_only", "check_bundle", "deploy", "find_bundle",
           "format_settings", "format_validation_note", "host_check", "plan_jobs", "write_reports"]
