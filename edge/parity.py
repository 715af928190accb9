"""Per-class parity of a deployed model against its FP32 reference (Polygraphy comparator style).

Both the candidate and the FP32 reference are scored against the ground truth on the same
images; the gate is on their *differences*: ΔmIoU, the worst per-class ΔF1 over every class
(long-tail ones included) and the argmax agreement with the reference. The max |Δlogit| gates
where the thresholds give it a limit (fp32, where a correct conversion is exact and a small error
is a bug: 1e-3 noise on one convolution moves no argmax yet shows as |Δlogit| 0.22); elsewhere it is
reported only: a small logit change can still erase a thin class, which only the per-class view
shows. A candidate output holding NaN or Inf fails the gate whatever the limits.

A validation set without ground truth (all labels 255, e.g. portrait views) is scored against
the FP32 labels instead: the reference then scores 100 against itself, so a Δ is the candidate's
score minus 100, and the reference's own scores are NaN (no GT number exists). Jaccard distance
is a metric, so a class's IoU drop vs GT can never exceed its IoU drop vs the reference labels:
these Δ are a worst-case bound, as if every changed pixel were wrong. Measured on the same images,
that bound is far above the Δ vs GT (a real-face student 250 iterations in, on CelebAMask-HQ val:
INT8 ΔmIoU -0.11 vs GT, -8.69 vs the FP32 labels; FP16 weights +0.02 vs -0.14), so the limits set for Δ vs GT would fail harmless
conversions. Without ground truth ΔmIoU and per-class ΔF1 are therefore reported, not gated
(class status ``reported``); the pixel agreement, which needs no GT, still gates.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.backends.base import Runner
from edge.bundle import Bundle, ParityRecord, ParityThresholds, load_bundle, seal_parity
from edge.data import FaceParsingReader, Sample
from edge.errors import BundleError, ConfigError, NonFiniteOutputError, ParityError
from edge.io import json_safe
from edge.metrics import Comparison, ConfusionMatrix, compare_matrices
from edge.preprocess import argmax_labels, labels_to_size, normalize, preprocess, resize_label
from edge.schemas import remap_labels

log = logging.getLogger(__name__)
PASS, FAIL, NOT_APPLICABLE, REPORTED = "pass", "fail", "n/a", "reported"
# float16 keeps 11 significant bits: a stored reference logit v is off by at most |v|·2^-11 (+ the
# smallest subnormal), which the logit limit allows for on top of its own value
FLOAT16_ROUNDING, FLOAT16_TINY = 2.0 ** -11, 2.0 ** -24
SYMBOLS = {PASS: "✅", FAIL: "❌", NOT_APPLICABLE: "n/a", REPORTED: "ℹ", None: "ℹ"}


@dataclass(frozen=True)
class ClassParity:
    """One class: scores in %, deltas (candidate − reference) in percentage points. Without
    ground truth the candidate is scored against the FP32 labels and ``reference_*`` are NaN."""

    index: int
    name: str
    gt_pixels: int
    reference_pixels: int
    candidate_pixels: int
    reference_f1: float
    candidate_f1: float
    delta_f1_pts: float
    reference_iou: float
    candidate_iou: float
    delta_iou_pts: float
    status: str  # pass | fail | n/a (absent from GT and both predictions) | reported (no GT: not gated)


@dataclass(frozen=True)
class ParityCheck:
    """One gate row; ``passed`` is None for a row that is reported but gates nothing."""

    name: str
    value: float
    unit: str
    limit: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class ParityResult:
    """``reference_miou``/``candidate_miou`` are vs GT; without it (``ground_truth`` False) the
    reference's is NaN and the candidate's is vs the FP32 labels (``delta_miou_pts`` = it − 100)."""

    bundle: str
    target: str
    backend: str
    precision: str
    source: str
    num_images: int
    reference_miou: float
    candidate_miou: float
    agreement_pct: float
    max_abs_logit_delta: float
    classes: tuple[ClassParity, ...]
    checks: tuple[ParityCheck, ...]
    thresholds: ParityThresholds
    delta_miou_pts: float
    ground_truth: bool = True
    non_finite_images: int = 0  # images whose candidate output held NaN or Inf

    @property
    def passed(self) -> bool:
        return all(check.passed is not False for check in self.checks)

    @property
    def worst_class(self) -> ClassParity | None:
        return worst_class(self.classes)

    def to_dict(self) -> dict:
        """JSON-ready; NaN becomes None."""
        data = asdict(self)
        data.update(passed=self.passed)
        return json_safe(data)


def worst_class(classes: tuple[ClassParity, ...]) -> ClassParity | None:
    """The evaluated class with the most negative ΔF1 (None when no class was evaluated)."""
    rows = [c for c in classes if c.status != NOT_APPLICABLE]
    return min(rows, key=lambda c: c.delta_f1_pts) if rows else None


class _Tally:
    """Dataset-level counts for the candidate and the reference on the same pixels."""

    def __init__(self, num_classes: int, ground_truth: bool = True):
        self.candidate = ConfusionMatrix(num_classes)
        self.reference = ConfusionMatrix(num_classes)
        self.agree = self.total = self.images = self.non_finite = 0
        self.max_logit_delta = self.max_logit_excess = math.nan
        self.ground_truth = ground_truth  # False: ``gt`` passed to ``add`` is the FP32 labels

    def add(self, gt: np.ndarray, reference: np.ndarray, candidate: np.ndarray, where: str) -> None:
        self.candidate.update(gt, candidate, where)
        self.reference.update(gt, reference, where)
        self.agree += int(np.count_nonzero(candidate == reference))
        self.total += candidate.size
        self.images += 1

    def add_logits(self, reference: np.ndarray, candidate: np.ndarray, where: str) -> None:
        """Track max |Δlogit| and how far it goes beyond the float16 rounding of a stored (float16)
        reference; NaN/Inf candidate values are counted by ``infer``, not here."""
        if reference.shape != candidate.shape:
            raise ParityError(f"{where}: candidate logits {list(candidate.shape)} and reference logits "
                              f"{list(reference.shape)} differ in shape")
        ref = reference.astype(np.float32)
        delta = np.abs(candidate - ref)
        rounding = np.abs(ref) * FLOAT16_ROUNDING + FLOAT16_TINY if reference.dtype == np.float16 else 0.0
        finite = np.isfinite(delta)
        if finite.any():
            self.max_logit_delta = float(np.fmax(self.max_logit_delta, delta[finite].max()))
            self.max_logit_excess = float(np.fmax(self.max_logit_excess, (delta - rounding)[finite].max()))

    def infer(self, runner: Runner, x: np.ndarray) -> np.ndarray:
        """The candidate's logits; an output with NaN/Inf is counted (it fails the gate) and scored as is."""
        try:
            return runner.infer(x)
        except NonFiniteOutputError as exc:
            self.non_finite += 1
            return exc.output


def validate_bundle(bundle: Bundle, runner: Runner, data: FaceParsingReader | None = None,
                    reference: Runner | None = None, thresholds: ParityThresholds | None = None,
                    progress: bool = False) -> ParityResult:
    """Score ``runner`` (the bundle's model, active) against the FP32 reference.

    Without ``data`` the bundle's own validation set and stored reference answers are used.
    With a dataset reader, its images are resized to the bundle's input size and ``reference``
    (an active runner of the FP32 model, e.g. the ONNX bundle) produces the reference answers.
    """
    thresholds = thresholds or bundle.manifest.parity_thresholds
    if data is None:
        tally = _Tally(bundle.schema.num_classes, bundle.validation.has_ground_truth)
        recorded = bundle.manifest.validation_source
        kind = f", {recorded.kind}" if recorded else ""
        source = f"the bundle validation set ({len(bundle.validation)} images{kind})"
        logit_note = "vs the stored float16 reference logits of the first images"
        _run_validation_set(bundle, runner, tally, progress)
    else:
        if reference is None:
            raise ConfigError("validating on a dataset needs a reference runner for the FP32 answers "
                              "(edgeparse validate BUNDLE --data FORMAT:ROOT --reference FP32_BUNDLE)")
        tally = _Tally(bundle.schema.num_classes)
        source = f"{data.root} split {data.split!r} ({len(data)} images)"
        logit_note = "vs the reference runner on every image"
        _run_dataset(bundle, runner, reference, data, tally, progress)
    return _summarize(bundle, source, logit_note, tally, thresholds)


def _run_validation_set(bundle: Bundle, runner: Runner, tally: _Tally, progress: bool) -> None:
    val, norm = bundle.validation, bundle.manifest.input.normalization
    for i in tqdm(range(len(val)), desc="parity", disable=not progress):
        logits = tally.infer(runner, normalize(val.images[i], norm)[None])
        where = f"validation image {i}"
        basis = val.labels[i] if tally.ground_truth else val.reference_labels[i]
        tally.add(basis, val.reference_labels[i], _labels_at(logits, basis.shape), where)
        if i < len(val.reference_logits):
            tally.add_logits(val.reference_logits[i][None], logits, where)


def _run_dataset(bundle: Bundle, runner: Runner, reference: Runner, data: FaceParsingReader,
                 tally: _Tally, progress: bool) -> None:
    size, norm = bundle.manifest.input.size, bundle.manifest.input.normalization
    for sample in tqdm(_samples(data), total=len(data), desc="parity", disable=not progress):
        label = sample.label
        if data.schema.name != bundle.schema.name:
            label = remap_labels(label, data.schema.name, bundle.schema.name)
        gt = resize_label(label, size)
        x = preprocess(sample.image, size, norm)
        ref_logits, cand_logits = reference.infer(x), tally.infer(runner, x)
        tally.add(gt, _labels_at(ref_logits, size), _labels_at(cand_logits, size), sample.name)
        tally.add_logits(ref_logits, cand_logits, sample.name)


def _samples(data: FaceParsingReader) -> Iterator[Sample]:
    for i in range(len(data)):
        yield data[i]


def _labels_at(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Argmax labels at ``size`` (models that predict at a lower resolution are upsampled)."""
    return labels_to_size(argmax_labels(logits)[0], tuple(size))


def _class_rows(bundle: Bundle, tally: _Tally, scores: Comparison, max_drop_pts: float) -> tuple[ClassParity, ...]:
    ref, cand = tally.reference, tally.candidate
    delta_f1, delta_iou = scores.delta_f1_pts, scores.delta_iou_pts
    rows = []
    for c, name in enumerate(bundle.schema.class_names):
        status = PASS if delta_f1[c] >= -max_drop_pts else FAIL
        rows.append(ClassParity(
            c, name, int(cand.gt_counts[c]), int(ref.pred_counts[c]), int(cand.pred_counts[c]),
            float(scores.reference_f1[c]), float(scores.candidate_f1[c]), float(delta_f1[c]),
            float(scores.reference_iou[c]), float(scores.candidate_iou[c]), float(delta_iou[c]),
            status if scores.evaluated[c] else NOT_APPLICABLE,
        ))
    if not tally.ground_truth:  # the reference is the basis: its 100s and pixel counts are not GT
        rows = [replace(r, gt_pixels=0, reference_f1=math.nan, reference_iou=math.nan,
                        status=r.status if r.status == NOT_APPLICABLE else REPORTED) for r in rows]
    return tuple(rows)


def _summarize(bundle: Bundle, source: str, logit_note: str, tally: _Tally,
               thresholds: ParityThresholds) -> ParityResult:
    scores = compare_matrices(tally.reference, tally.candidate)
    classes = _class_rows(bundle, tally, scores, thresholds.max_class_delta_f1_pts)
    ref_miou, cand_miou, delta = scores.reference_miou, scores.candidate_miou, scores.delta_miou_pts
    agreement = 100.0 * tally.agree / max(tally.total, 1)
    worst = worst_class(classes)
    gt = tally.ground_truth
    checks = (
        ParityCheck("ΔmIoU", delta, "pts", f">= -{thresholds.max_delta_miou_pts:g}",
                    delta >= -thresholds.max_delta_miou_pts if gt else None, _change(ref_miou, cand_miou, gt)),
        ParityCheck("worst-class ΔF1", worst.delta_f1_pts if worst else math.nan, "pts",
                    f">= -{thresholds.max_class_delta_f1_pts:g}",
                    None if worst is None or not gt else worst.status == PASS,
                    f"{worst.name}: {_change(worst.reference_f1, worst.candidate_f1, tally.ground_truth)}"
                    if worst else "no class present"),
        ParityCheck("pixel agreement", agreement, "%", f">= {thresholds.min_agreement_pct:g}",
                    agreement >= thresholds.min_agreement_pct, "argmax equal to the FP32 reference"),
        _logit_check(tally, thresholds.max_abs_logit_delta, logit_note),
    )
    m = bundle.manifest
    return ParityResult(m.name, m.target, m.backend, m.precision, source, tally.images,
                        ref_miou if tally.ground_truth else math.nan, cand_miou, agreement, tally.max_logit_delta,
                        classes, checks, thresholds, delta_miou_pts=delta, ground_truth=tally.ground_truth,
                        non_finite_images=tally.non_finite)


def _logit_check(tally: _Tally, limit: float | None, note: str) -> ParityCheck:
    """max |Δlogit|: gated by ``limit`` beyond the float16 rounding of a stored reference (None: reported
    only); any NaN/Inf in the candidate's outputs fails it."""
    if tally.non_finite:
        return ParityCheck("max |Δlogit|", tally.max_logit_delta, "", "finite", False,
                           f"{tally.non_finite} of {tally.images} images gave NaN/Inf logits")
    if limit is None:
        return ParityCheck("max |Δlogit|", tally.max_logit_delta, "", "-", None, note)
    excess = tally.max_logit_excess
    return ParityCheck("max |Δlogit|", tally.max_logit_delta, "", f"<= {limit:g}", not excess > limit,
                       f"{note}; {max(excess, 0.0):.3g} beyond their float16 rounding, limit {limit:g}")


def _change(reference: float, candidate: float, ground_truth: bool) -> str:
    if ground_truth:
        return f"{reference:.2f} -> {candidate:.2f}"
    return f"{candidate:.2f} against the FP32 labels (no ground truth: a worst-case bound)"


def _fmt(value: float, spec: str = "7.2f") -> str:
    return "-".rjust(len(format(0.0, spec))) if math.isnan(value) else format(value, spec)


def format_parity_table(result: ParityResult) -> str:
    """A terminal table: one row per class, then the gate rows and the verdict."""
    width = max(len("class"), *(len(c.name) for c in result.classes))
    total_gt = sum(c.gt_pixels for c in result.classes) or 1
    title = (f"parity of {result.bundle} ({result.backend}, {result.precision}) vs FP32 reference "
             f"on {result.source}")
    if not result.ground_truth:
        title += "; no ground truth: F1/IoU against the FP32 labels are reported, the pixel agreement gates"
    header = (f"{'id':>3}  {'class':<{width}}  {'GT %':>6}  {'ref F1':>7}  {'F1':>7}  {'ΔF1':>7}  "
              f"{'ref IoU':>7}  {'IoU':>7}  {'ΔIoU':>7}  status")
    lines = [title, header]
    for c in result.classes:
        gt_share = 100 * c.gt_pixels / total_gt if result.ground_truth else math.nan
        lines.append(f"{c.index:>3}  {c.name:<{width}}  {_fmt(gt_share, '6.2f')}  "
                     f"{_fmt(c.reference_f1)}  {_fmt(c.candidate_f1)}  {_fmt(c.delta_f1_pts, '+7.2f')}  "
                     f"{_fmt(c.reference_iou)}  {_fmt(c.candidate_iou)}  {_fmt(c.delta_iou_pts, '+7.2f')}  "
                     f"{SYMBOLS[c.status]}")
    lines.append("")
    for check in result.checks:
        value = _fmt(check.value, "+.2f" if check.unit == "pts" else ".4g")
        limit = "reported only" if check.passed is None else f"limit {check.limit}"
        lines.append(f"{SYMBOLS[_status(check.passed)]:<3} {check.name:<16} {value} {check.unit:<4} "
                     f"({limit})  {check.detail}")
    verdict = "PASSED" if result.passed else "FAILED"
    legend = "✅ within limit, ❌ over limit, n/a absent from GT and both predictions, ℹ reported only"
    lines += ["", f"parity {verdict}  ({legend})"]
    return "\n".join(lines)


def record_parity(bundle: Bundle, result: ParityResult, checked_by: str, model: Path | None = None,
                  backend: str | None = None, host_side: bool = False) -> Bundle:
    """Seal ``result`` into ``bundle`` as its verdict (``parity.json``); ``model`` is the bundle file that
    ran (default: the model the bundle loads) on ``backend`` (default: the manifest's)."""
    model = model or bundle.model_path
    summary = {"delta_miou_pts": result.delta_miou_pts, "agreement_pct": result.agreement_pct,
               "worst_class": result.worst_class.name if result.worst_class else None,
               "worst_class_delta_f1_pts": result.worst_class.delta_f1_pts if result.worst_class else None,
               "ground_truth": result.ground_truth, "num_images": result.num_images, "source": result.source,
               "failed_checks": [c.name for c in result.checks if c.passed is False]}
    record = ParityRecord("passed" if result.passed else "failed", checked_by, bundle.manifest.validation_sha256,
                          result.thresholds, backend or bundle.manifest.backend, model.name,
                          bundle.manifest.artifacts.get(model.name), host_side, json_safe(summary))
    return seal_parity(bundle, record)


def verdict_problem(bundle: Bundle) -> str | None:
    """Why ``bundle``'s recorded parity verdict does not vouch for the model it runs; None when it does."""
    record, where = bundle.parity, bundle.path
    check = f"check it with `edgeparse validate {where}`"
    if record.gate is None:
        return (f"{where}: its verdict does not seal the manifest fields it depends on (normalisation, input "
                f"size, class map, precision: an older edgeparse sealed it); re-seal it with `edgeparse deploy "
                f"--bench-only --out {where.parent}`, or rebuild it with: {bundle.manifest.build_command}")
    if record.verdict == "not_validated":
        return f"{where} was never validated against its FP32 reference; {check}"
    if record.verdict == "failed":
        failed = ", ".join(record.summary.get("failed_checks", [])) or "a gate"
        return (f"{where} FAILED parity when it was checked ({failed} over its limit, {record.backend}); rebuild "
                f"it with: {bundle.manifest.build_command}")
    if record.model_file != bundle.model_path.name:
        side = "on the build host " if record.host_side else ""
        return (f"{where} passed parity {side}with {record.backend} on {record.model_file}, not on "
                f"{bundle.model_path.name}, the model it runs; {check}")
    return None


def check_verdict(bundle: Bundle, strict: bool = False) -> str | None:
    """Warn (logged; returned) when ``bundle`` failed parity or was never validated; with ``strict``
    refuse it (``BundleError``). A pass recorded for another file of the bundle (a jetson bundle checked
    on the host) is a warning only: the file the device runs was built from the one that passed."""
    problem = verdict_problem(bundle)
    if problem is None:
        return None
    refused = bundle.parity.verdict != "passed" or bundle.parity.gate is None
    if strict and refused:
        raise BundleError(f"--strict refuses this bundle: {problem}")
    log.warning(problem)
    return problem


def load_checked_bundle(path: str | Path, strict: bool = False) -> Bundle:
    """``load_bundle`` plus ``check_verdict``: what a command that runs a bundle opens it with."""
    bundle = load_bundle(path)
    check_verdict(bundle, strict)
    return bundle


def load_reference_bundle(path: str | Path, candidate: Bundle) -> Bundle:
    """The bundle whose answers ``validate --data`` compares ``candidate`` with: an FP32 bundle of the same
    source checkpoint, input and class map that passed its own check, and not the candidate itself (which
    would pass whatever it computes). Anything else is refused, saying why."""
    reference = load_bundle(path)
    why = None
    ref, cand = reference.manifest, candidate.manifest
    if reference.path.resolve() == candidate.path.resolve():
        why = "it is the candidate itself, which agrees with itself whatever it computes"
    elif ref.precision != "fp32":
        why = f"it is not an FP32 bundle but {ref.precision}"
    elif ref.source_checkpoint.sha256 != cand.source_checkpoint.sha256:
        theirs, ours = ref.source_checkpoint, cand.source_checkpoint
        why = (f"it was built from another checkpoint ({theirs.path}, sha256 {theirs.sha256[:12]}…; the "
               f"candidate's is {ours.sha256[:12]}…)")
    elif (ref.input, ref.schema) != (cand.input, cand.schema):
        why = "its input (size, normalisation) or class map differs from the candidate's"
    elif verdict_problem(reference) is not None:
        why = verdict_problem(reference)
    if why is not None:
        raise ConfigError(f"--reference {path}: {why}; give the FP32 bundle built from the candidate's "
                          f"checkpoint (edgeparse deploy --target onnx writes <model>_onnx_fp32)")
    return reference


def _status(passed: bool | None) -> str | None:
    return None if passed is None else (PASS if passed else FAIL)


