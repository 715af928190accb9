"""The deploy bundle: one folder per (model, target, precision) that a device can trust.

Layout::

    <bundle>/
      manifest.json        what the artifact is, how to feed it, checksums, parity thresholds
      validation.npz       images + GT + FP32 reference labels/logits/confusion matrix
      parity.json          the bundle's parity verdict (passed / failed / not_validated), sealed
      <model>_<target>_<precision>.<ext> [+ side files such as an OpenVINO .bin]

``write_bundle`` (build side) copies the artifacts in and records their sha256;
``load_bundle`` (device side) refuses a bundle whose files are missing, truncated or
changed, so a parity or latency number always belongs to the bytes that were built.
``seal_parity`` records a validation's verdict; ``check_verdict`` warns about (or, strict,
refuses) a bundle that failed or was never validated. ``load_bundle`` also accepts the
``<model>_<target>_best`` pointer that ``edgeparse deploy`` writes (``resolve_bundle_path``).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone  # not datetime.UTC: Python >= 3.11 only
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge.config import from_dict, to_dict
from edge.errors import BundleError, ConfigError, printable
from edge.formats import BackendName, InferencePrecision, Precision, Target
from edge.io import atomic_write_text, file_sha256, sha256_mismatch
from edge.metrics import ConfusionMatrix
from edge.paths import is_folder_name
from edge.preprocess import Normalization, argmax_labels
from edge.schemas import IGNORE_INDEX, LabelSchema

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
VALIDATION_FILE = "validation.npz"
PARITY_FILE = "parity.json"
BEST_SUFFIX = "_best"  # bundles/<model>_<target>_best.json names the recommended bundle of a target
MAX_REFERENCE_LOGITS = 4  # float16 logits of a few images keep bundles small
GENERIC_HINT = "rebuild the bundle with the command that made it (or copy the whole folder again)"

Verdict = Literal["passed", "failed", "not_validated"]
GATE_FIELDS = ("format_version", "target", "backend", "precision", "inference_precision", "artifacts",
               "validation_sha256", "source_checkpoint", "schema", "input", "output", "parity_thresholds")


@dataclass(frozen=True)
class InputSpec:
    """How to feed the model: one RGB float32 NCHW batch, normalised with ``normalization``."""

    shape: tuple[int, int, int, int]
    normalization: Normalization
    name: str = "input"
    layout: Literal["NCHW"] = "NCHW"
    dtype: Literal["float32"] = "float32"
    color: Literal["RGB"] = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return self.shape[2], self.shape[3]


@dataclass(frozen=True)
class OutputSpec:
    name: str = "logits"
    layout: Literal["NCHW"] = "NCHW"


@dataclass(frozen=True)
class ParityThresholds:
    """The largest drops vs the FP32 reference a bundle may show: ΔmIoU and per-class ΔF1 in percentage
    points, the argmax agreement in % (99.9 means 99.9 %, as every table prints it), and the largest
    max |Δlogit| beyond the float16 rounding of the stored reference logits (None: reported, not gated;
    set at fp32, where a correct conversion is exact to ~1e-4: ``targets.config``)."""

    max_delta_miou_pts: float = 1.0
    max_class_delta_f1_pts: float = 3.0
    min_agreement_pct: float = 98.0
    max_abs_logit_delta: float | None = None

    def __post_init__(self) -> None:
        """Refuse a limit in the wrong unit or sign: a fraction for a percentage, a negative drop."""
        for key in ("max_delta_miou_pts", "max_class_delta_f1_pts"):
            value = getattr(self, key)
            if not 0 <= value <= 100:
                hint = f"; did you mean {key}={-value:g}?" if value < 0 else ""
                raise ConfigError(f"{key}={value:g}: a limit is the largest drop allowed, in percentage "
                                  f"points from 0 to 100{hint}")
        agreement = self.min_agreement_pct
        if 0 < agreement <= 1:
            raise ConfigError(f"min_agreement_pct={agreement:g} looks like a fraction, but the agreement is "
                              f"a percentage (as the tables print it): did you mean "
                              f"min_agreement_pct={agreement * 100:g}?")
        if not 0 <= agreement <= 100:
            raise ConfigError(f"min_agreement_pct={agreement:g}: the agreement is a percentage from 0 to 100")
        logit = self.max_abs_logit_delta
        if logit is not None and not 0 <= logit < float("inf"):
            raise ConfigError(f"max_abs_logit_delta={logit}: give a logit difference >= 0, or null to report "
                              f"it without gating")


@dataclass(frozen=True)
class SourceCheckpoint:
    path: str
    sha256: str


@dataclass(frozen=True)
class ParityRecord:
    """``parity.json``: the bundle's own verdict. Its sha256 is in the manifest (``parity_sha256``)
    and it names what was checked (the model file and its sha256, the validation set's sha256, the
    thresholds, and in ``gate`` every manifest field a verdict depends on: ``gate_fields``), so
    ``load_bundle`` refuses an edited verdict, or one moved to other bytes, limits, normalisation,
    input size, class map or precision: editing ``manifest.json`` alone cannot loosen the gate.
    ``backend`` ran the check; ``host_side`` marks a check on the build host of a file the device
    builds from (a jetson bundle's ONNX), not of the model the device runs."""

    verdict: Verdict
    checked_by: str
    validation_sha256: str
    thresholds: ParityThresholds
    backend: str | None = None
    model_file: str | None = None
    model_sha256: str | None = None
    host_side: bool = False
    summary: dict[str, Any] = field(default_factory=dict)  # ΔmIoU, agreement, worst class, failed gates
    checked_utc: str | None = None
    gate: dict[str, Any] | None = None  # Manifest.gate_fields() when sealed; None: an older edgeparse

    def to_json(self) -> str:
        return json.dumps(to_dict(self), indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class ValidationSource:
    """Where ``validation.npz`` came from: ``dataset`` (labelled images, the deploy data or the
    checkpoint's val split), ``portraits`` (views of public-domain photos, no ground truth:
    ``edge.data.portraits``) or ``synthetic`` (the recipe's procedural faces)."""

    kind: Literal["dataset", "portraits", "synthetic"]
    description: str
    has_ground_truth: bool


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``. ``artifacts`` maps relative paths to sha256; the first entry is
    the file the backend loads, the others its side files. ``build_command`` is what made
    the bundle, quoted in every error that asks for a rebuild. ``inference_precision`` is the
    arithmetic precision the runner must pin and read back ("f32", "bf16"); None for backends
    that have no such setting (the runner refuses one it cannot apply)."""

    name: str
    target: Target
    backend: BackendName
    precision: Precision
    artifacts: dict[str, str]
    validation_sha256: str
    source_checkpoint: SourceCheckpoint
    schema: dict[str, Any]
    input: InputSpec
    backend_version: str
    build_command: str
    created_utc: str
    output: OutputSpec = field(default_factory=OutputSpec)
    tool_versions: dict[str, str] = field(default_factory=dict)
    parity_thresholds: ParityThresholds = field(default_factory=ParityThresholds)
    quantization: dict[str, Any] = field(default_factory=dict)
    inference_precision: InferencePrecision | None = None
    notes: str = ""
    # None in bundles written before the source was recorded
    validation_source: ValidationSource | None = None
    # sha256 of parity.json (the verdict); None in bundles written before verdicts were recorded
    parity_sha256: str | None = None
    format_version: int = FORMAT_VERSION

    def label_schema(self) -> LabelSchema:
        return LabelSchema.from_dict(self.schema)

    def gate_fields(self) -> dict[str, Any]:
        """What a parity verdict depends on: how the model is fed (input size, normalisation, layout),
        how its output is read (class map and colours), the precision it runs at, the files, the source
        checkpoint and the limits. Sealed into ``parity.json``; the rest (name, notes, times) is not."""
        data = to_dict(self)
        return {key: data[key] for key in GATE_FIELDS}

    def to_json(self) -> str:
        data = to_dict(self)
        ordered = {"format_version": data.pop("format_version"), **data}
        return json.dumps(ordered, indent=2) + "\n"


@dataclass(frozen=True, eq=False)
class ValidationSet:
    """The images a bundle is checked on, with the FP32 reference's answers.

    ``images`` (N, H, W, 3) uint8 RGB at the model input size; ``labels`` (N, H, W) uint8 GT
    (255 = ignore); ``reference_labels`` the FP32 argmax; ``reference_logits`` (K, C, H, W)
    float16 for the first K <= 4 images; ``reference_confusion`` (C, C) int64, FP32 vs GT.
    """

    images: np.ndarray
    labels: np.ndarray
    reference_labels: np.ndarray
    reference_logits: np.ndarray
    reference_confusion: np.ndarray

    @classmethod
    def from_reference(cls, images: np.ndarray, labels: np.ndarray, logits: np.ndarray,
                       keep_logits: int = MAX_REFERENCE_LOGITS) -> ValidationSet:
        """Build from the FP32 model's (N, C, H, W) logits on ``images`` (build side)."""
        reference = argmax_labels(logits)
        confusion = ConfusionMatrix(logits.shape[1])
        confusion.update(labels, reference, where="validation set")
        kept = logits[: min(keep_logits, MAX_REFERENCE_LOGITS)].astype(np.float16)
        return cls(images, labels, reference, kept, confusion.matrix.copy())

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def has_ground_truth(self) -> bool:
        """False when every label is ignore (255), e.g. portrait views: scores vs GT do not exist."""
        return bool((self.labels != IGNORE_INDEX).any())

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def load(cls, path: Path, num_classes: int, input_size: tuple[int, int]) -> ValidationSet:
        """Read and check ``validation.npz`` against the manifest's classes and input size."""
        names = [f.name for f in dataclasses.fields(cls)]
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [n for n in names if n not in data.files]
                if missing:
                    raise BundleError(f"{path}: missing arrays {missing}")
                arrays = {n: data[n] for n in names}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise BundleError(f"{path}: unreadable validation set ({exc})") from exc
        validation = cls(**arrays)
        validation.check(num_classes, input_size, str(path))
        return validation

    def check(self, num_classes: int, input_size: tuple[int, int], where: str) -> None:
        """Raise ``BundleError`` on a wrong shape, dtype or class id."""
        n, (h, w), c = len(self), input_size, num_classes
        if self.reference_confusion.shape[:1] != (c,):
            made_for = list(self.reference_confusion.shape)
            raise BundleError(f"{where}: made for a {made_for} confusion matrix but the manifest schema has "
                              f"{c} classes: the class map does not match")
        k = min(n, MAX_REFERENCE_LOGITS)
        expected = {
            "images": ((n, h, w, 3), np.uint8),
            "labels": ((n, h, w), np.uint8),
            "reference_labels": ((n, h, w), np.uint8),
            "reference_logits": ((self.reference_logits.shape[0], c, h, w), np.float16),
            "reference_confusion": ((c, c), np.int64),
        }
        for name, (shape, dtype) in expected.items():
            array = getattr(self, name)
            if array.shape != shape or array.dtype != dtype:
                raise BundleError(f"{where}: {name} is {array.dtype}{list(array.shape)}, expected "
                                  f"{np.dtype(dtype)}{list(shape)} for {c} classes at {h}x{w}")
        if n == 0 or not 1 <= self.reference_logits.shape[0] <= k:
            raise BundleError(f"{where}: needs >= 1 image and 1..{k} reference logit maps")
        self._check_classes(num_classes, where)

    def _check_classes(self, num_classes: int, where: str) -> None:
        gt_ids = np.unique(self.labels)
        bad = gt_ids[(gt_ids >= num_classes) & (gt_ids != IGNORE_INDEX)].tolist()
        bad += np.unique(self.reference_labels[self.reference_labels >= num_classes]).tolist()
        if bad:
            raise BundleError(f"{where}: class ids {sorted(set(bad))} are outside the manifest schema's "
                              f"{num_classes} classes: the class map does not match")
        recount = ConfusionMatrix(num_classes)
        recount.update(self.labels, self.reference_labels, where=where)
        if not np.array_equal(recount.matrix, self.reference_confusion):
            raise BundleError(f"{where}: reference_confusion does not match reference_labels vs labels")


@dataclass(frozen=True, eq=False)
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    manifest: Manifest
    validation: ValidationSet
    parity: ParityRecord

    @property
    def model_path(self) -> Path:
        return self.path / next(iter(self.manifest.artifacts))

    @property
    def schema(self) -> LabelSchema:
        return self.manifest.label_schema()

    @property
    def size_mb(self) -> float:
        """Size of the model artifacts (not the validation set), in MB."""
        return sum((self.path / rel).stat().st_size for rel in self.manifest.artifacts) / 1e6


def write_bundle(
    out_dir: str | Path,
    *,
    name: str,
    target: str,
    backend: str,
    precision: str,
    schema: LabelSchema,
    normalization: Normalization,
    source_checkpoint: str | Path,
    artifacts: list[Path],
    validation: ValidationSet,
    backend_version: str,
    build_command: str,
    tool_versions: dict[str, str] | None = None,
    parity_thresholds: ParityThresholds | None = None,
    quantization: dict[str, Any] | None = None,
    inference_precision: str | None = None,
    notes: str = "",
    validation_source: ValidationSource | None = None,
) -> Path:
    """Copy ``artifacts`` (model file first) into ``out_dir`` and write the manifest and
    validation set; returns ``out_dir``. The input size is the validation images' size."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    height, width = validation.images.shape[1:3]
    validation.check(schema.num_classes, (height, width), "validation set")
    _check_source(validation_source, validation, "write_bundle")
    checkpoint = Path(source_checkpoint)
    if not checkpoint.is_file():
        raise BundleError(f"source checkpoint {checkpoint} not found")
    validation.save(out / VALIDATION_FILE)
    validation_sha256 = file_sha256(out / VALIDATION_FILE)
    thresholds = parity_thresholds or ParityThresholds()
    fields = {
        "format_version": FORMAT_VERSION, "name": name,
        "target": target, "backend": backend, "precision": precision,
        "artifacts": _copy_artifacts(artifacts, out),
        "validation_sha256": validation_sha256,
        "source_checkpoint": {"path": str(checkpoint), "sha256": file_sha256(checkpoint)},
        "schema": schema.to_dict(),
        "input": {"shape": [1, 3, height, width], "normalization": dataclasses.asdict(normalization)},
        "backend_version": backend_version, "build_command": build_command,
        "tool_versions": tool_versions or {},
        "parity_thresholds": dataclasses.asdict(thresholds),
        "quantization": quantization or {}, "inference_precision": inference_precision, "notes": notes,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validation_source": dataclasses.asdict(validation_source) if validation_source else None,
    }
    manifest = _parse_manifest(fields, where="write_bundle", hint="check the arguments")
    unchecked = ParityRecord("not_validated", "write_bundle", validation_sha256, thresholds,
                             gate=manifest.gate_fields())
    manifest = dataclasses.replace(manifest, parity_sha256=_write_parity(out, unchecked))
    atomic_write_text(out / MANIFEST_FILE, manifest.to_json())  # last, so a half-written bundle never loads
    log.info("wrote bundle %s (%d artifact files)", out, len(manifest.artifacts))
    return out


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_parity(root: Path, record: ParityRecord) -> str:
    """Write ``parity.json``; returns its sha256 for the manifest."""
    atomic_write_text(root / PARITY_FILE, record.to_json())
    return file_sha256(root / PARITY_FILE)


def seal_parity(bundle: Bundle, record: ParityRecord) -> Bundle:
    """Record a validation's verdict in ``bundle``: ``parity.json`` and its sha256 in the manifest.

    ``record`` must name this bundle's validation set, thresholds and one of its artifacts; the
    verdict is then as protected as the artifacts (``load_bundle`` verifies it)."""
    manifest = bundle.manifest
    record = dataclasses.replace(record, gate=manifest.gate_fields())
    _check_record(record, manifest, str(bundle.path / PARITY_FILE))
    sealed = dataclasses.replace(record, checked_utc=record.checked_utc or _utc_now())
    manifest = dataclasses.replace(manifest, parity_sha256=_write_parity(bundle.path, sealed))
    atomic_write_text(bundle.path / MANIFEST_FILE, manifest.to_json())
    log.info("%s: parity verdict %s recorded", bundle.path.name, sealed.verdict)
    return dataclasses.replace(bundle, manifest=manifest, parity=sealed)


def _copy_artifacts(artifacts: list[Path], out: Path) -> dict[str, str]:
    if not artifacts:
        raise BundleError("a bundle needs at least one model artifact")
    checksums: dict[str, str] = {}
    for src in map(Path, artifacts):
        if not src.is_file():
            raise BundleError(f"artifact {src} not found")
        if src.name in checksums or src.name in (MANIFEST_FILE, VALIDATION_FILE, PARITY_FILE):
            raise BundleError(f"artifact name {src.name!r} is used twice or is reserved")
        dst = out / src.name
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        checksums[src.name] = file_sha256(dst)
    return checksums


def load_manifest(path: str | Path) -> Manifest:
    """Read ``manifest.json`` of a bundle folder (checksums are not verified here)."""
    file = Path(path) / MANIFEST_FILE
    if not file.is_file():
        raise BundleError(f"{file} not found: {Path(path)} is not a deploy bundle; {GENERIC_HINT}")
    try:
        data = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{file}: malformed JSON ({exc}); {GENERIC_HINT}") from exc
    return _parse_manifest(data, where=str(file), hint=GENERIC_HINT)


def _parse_manifest(data: Any, where: str, hint: str) -> Manifest:
    if not isinstance(data, dict):
        raise BundleError(f"{where}: the manifest must be a JSON object; {hint}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{where}: format_version {version!r} is not supported (this edgeparse reads "
                          f"{FORMAT_VERSION}); {hint}")
    unprintable = _with_control_characters(data)
    if unprintable:  # edgeparse never writes them; printed, they would drive the user's terminal
        key, value = unprintable
        raise BundleError(f"{where}: malformed manifest: {key} holds control characters ({printable(value)[:80]}); "
                          f"{hint}")
    try:
        manifest = from_dict(Manifest, data)
        manifest.label_schema()
    except ConfigError as exc:
        raise BundleError(f"{where}: malformed manifest: {exc}; {hint}") from exc
    if not manifest.artifacts:
        raise BundleError(f"{where}: malformed manifest: no artifacts listed; {hint}")
    return manifest


def _with_control_characters(value: Any, key: str = "manifest") -> tuple[str, str] | None:
    """(key path, text) of the first key or string in ``value`` that holds a control character."""
    if isinstance(value, str):
        return (key, value) if printable(value) != value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, item in items:
        found = _with_control_characters(str(name), key) or _with_control_characters(item, f"{key}[{name!r}]")
        if found:
            return found
    return None


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle (or the one a ``_best`` pointer names), verifying that every listed file,
    the parity verdict included, exists and matches its sha256."""
    root = resolve_bundle_path(path)
    manifest = load_manifest(root)
    try:
        if manifest.parity_sha256 is None:  # the verdict seals the gate fields: a bundle needs one
            raise BundleError(f"{root / MANIFEST_FILE} names no sealed parity verdict (parity_sha256 is "
                              f"null: an edgeparse before sealed verdicts wrote it, or the key was removed)")
        files = {**manifest.artifacts, VALIDATION_FILE: manifest.validation_sha256,
                 PARITY_FILE: manifest.parity_sha256}
        for rel, expected in files.items():
            _verify_file(root, rel, expected)
        validation = ValidationSet.load(root / VALIDATION_FILE, manifest.label_schema().num_classes,
                                        manifest.input.size)
        _check_source(manifest.validation_source, validation, str(root / MANIFEST_FILE))
        parity = _load_parity(root, manifest)
    except BundleError as exc:
        raise BundleError(f"{exc}; rebuild the bundle with: {manifest.build_command}") from exc
    return Bundle(root, manifest, validation, parity)


def _load_parity(root: Path, manifest: Manifest) -> ParityRecord:
    file = root / PARITY_FILE
    try:
        record = from_dict(ParityRecord, json.loads(file.read_text()))
    except (UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
        raise BundleError(f"{file}: malformed parity record ({exc})") from exc
    _check_record(record, manifest, str(file))
    return record


def _check_record(record: ParityRecord, manifest: Manifest, where: str) -> None:
    """The verdict must be about this bundle: its validation set, thresholds and one of its artifacts."""
    if record.validation_sha256 != manifest.validation_sha256:
        raise BundleError(f"{where}: the verdict is for another validation set than the manifest's")
    if record.thresholds != manifest.parity_thresholds:
        raise BundleError(f"{where}: the verdict was reached with thresholds {dataclasses.asdict(record.thresholds)}, "
                          f"the manifest has {dataclasses.asdict(manifest.parity_thresholds)}")
    if record.model_file is not None and manifest.artifacts.get(record.model_file) != record.model_sha256:
        raise BundleError(f"{where}: the verdict is for {record.model_file} with other bytes than the manifest's")
    changed = [] if record.gate is None else _changed_keys(record.gate, manifest.gate_fields())
    # A file added after sealing (the engine `build-engine` compiles on the device from the sealed
    # ONNX) is no tampering: the verdict names the file it judged, and verdict_problem says when the
    # bundle runs another. A sealed file that changed or went missing is.
    sealed_files = record.gate.get("artifacts", {}) if record.gate is not None else {}
    changed = [key for key in changed
               if not (key.startswith("artifacts.") and key.removeprefix("artifacts.") not in sealed_files)]
    if changed:  # no gate: an older edgeparse sealed the verdict (parity.verdict_problem warns)
        manifest_file = where.removesuffix(PARITY_FILE) + MANIFEST_FILE
        raise BundleError(f"{manifest_file}: {', '.join(changed)} changed after the parity verdict was "
                          f"sealed: the bundle was tampered with")


def _changed_keys(sealed: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts (e.g. ``input.normalization.mean``)."""
    changed = []
    for key in sorted(set(sealed) | set(now)):
        a, b = sealed.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def _check_source(source: ValidationSource | None, validation: ValidationSet, where: str) -> None:
    """The recorded source must agree with the labels about ground truth."""
    if source is not None and source.has_ground_truth != validation.has_ground_truth:
        raise BundleError(f"{where}: validation_source says has_ground_truth={source.has_ground_truth} but "
                          f"the validation labels {'hold' if validation.has_ground_truth else 'hold no'} "
                          f"ground truth")


def _verify_file(root: Path, rel: str, expected: str) -> None:
    file = root / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise BundleError(f"{root / MANIFEST_FILE}: artifact path {rel!r} must stay inside the bundle")
    if file.exists() and not file.resolve().is_relative_to(root.resolve()):
        # the checksum would vouch for bytes anyone can change behind the bundle's back
        raise BundleError(f"{file} is a link to {file.resolve()}, outside the bundle; copy the file in")
    if not file.is_file():
        raise BundleError(f"{file} is missing from the bundle")
    mismatch = sha256_mismatch(file, expected)
    if mismatch:
        raise BundleError(f"{mismatch}, against the manifest")


@dataclass(frozen=True)
class BestPointer:
    """``<model>_<target>_best.json`` beside the bundles: the fastest bundle of a target that passed
    every gate in the last ``edgeparse deploy`` run. It names a sibling folder (never a path that could
    leave the bundle folder) and that bundle's manifest sha256, so a rebuilt bundle is not silently
    taken for the one that was measured."""

    bundle: str
    target: str
    precision: str
    manifest_sha256: str
    latency_p50_ms: float
    float_layers: tuple[str, ...] = ()
    host: str = ""
    reason: str = ""


def best_pointer_path(out_dir: str | Path, model: str, target: str) -> Path:
    return Path(out_dir) / f"{model}_{target}{BEST_SUFFIX}.json"


def write_best_pointer(path: Path, pointer: BestPointer) -> Path:
    if not is_folder_name(pointer.bundle):
        raise BundleError(f"best pointer {path}: {pointer.bundle!r} must be the name of a bundle folder beside it")
    atomic_write_text(path, json.dumps(to_dict(pointer), indent=2) + "\n")
    return path


def resolve_bundle_path(path: str | Path) -> Path:
    """The bundle folder ``path`` means: a bundle folder itself, or a best pointer, given as
    ``bundles/<model>_<target>_best.json`` or as ``bundles/<model>_<target>_best`` (no such folder)."""
    path = Path(path)
    if path.is_dir() or not path.name.endswith((BEST_SUFFIX, f"{BEST_SUFFIX}.json")):
        return path
    file = path if path.suffix == ".json" else path.with_name(path.name + ".json")
    if not file.is_file():
        raise BundleError(f"{file} not found: no recommended bundle was recorded there; run `edgeparse deploy` "
                          f"for that target (it writes the pointer when a bundle passes every gate)")
    try:
        pointer = from_dict(BestPointer, json.loads(file.read_text()))
    except (UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
        raise BundleError(f"{file}: malformed best pointer ({exc}); rerun `edgeparse deploy`") from exc
    if not is_folder_name(pointer.bundle):  # a pointer never leads out of its folder
        raise BundleError(f"{file}: {pointer.bundle!r} is not a bundle folder name beside the pointer")
    root = file.parent / pointer.bundle
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        raise BundleError(f"{file} names {root}, which is not a deploy bundle; rerun `edgeparse deploy`")
    if file_sha256(manifest) != pointer.manifest_sha256:
        raise BundleError(f"{file}: {root} changed after it was recommended; rerun `edgeparse deploy --target "
                          f"{pointer.target}` (or `edgeparse deploy --bench-only`) to choose again")
    return root
