"""The ``edgeparse quantize ptq|qat`` flow, from an FP32 checkpoint to the deployable INT8 outputs.

Outputs in ``out_dir``: ``model_int8_qdq.onnx`` (the one QDQ graph the targets consume),
``model_int8.pt`` (quantized checkpoint, see ``quantize.checkpoint``), ``quant_config.yaml`` and
``summary.json``; ``qat`` also keeps its PTQ baseline as ``ptq_int8_qdq.onnx``. Every INT8 score
comes from running the exported ONNX in ``eval_backend``; FP32 is the torch model.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from edge.config import apply_overrides, from_dict, save_config, to_dict
from edge.errors import BackendUnavailable, CheckpointError, DataError, ExportError
from edge.formats import QDQ_LINTED_FAMILIES
from edge.io import atomic_write_text, json_safe
from edge.metrics import ConfusionMatrix, compare_matrices
from quantize.checkpoint import save_quantized
from quantize.config import EXACT_QDQ, QuantCfg
from quantize.evaluate import (
    calibration_batches,
    compare,
    format_comparison,
    format_deltas,
    load_eval_set,
    score_onnx,
    score_torch,
)
from quantize.export_qdq import export_qdq_onnx
from quantize.graph import QuantizedModel
from quantize.ptq import ptq
from quantize.qat import qat
from quantize.qdq_lint import lint_qdq
from quantize.sensitivity import (
    LayerSensitivity,
    MixedPrecisionResult,
    auto_mixed_precision,
    format_sensitivity,
    layer_sensitivity,
)
from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of
from training.config import RecipeCfg
from training.data.factory import build_loader, build_source
from training.data.torch_dataset import SampleSource
from training.distributed import DistInfo

log = logging.getLogger(__name__)
ONNX_NAME, CHECKPOINT_NAME, PTQ_BASELINE_NAME = "model_int8_qdq.onnx", "model_int8.pt", "ptq_int8_qdq.onnx"
_BACKEND_WORDS = {EXACT_QDQ: "onnxruntime with exact QDQ arithmetic"}


@dataclasses.dataclass
class Candidate:
    quantized: QuantizedModel
    onnx_path: Path
    matrix: ConfusionMatrix


@dataclasses.dataclass(frozen=True)
class QuantizeReport:
    text: str  # comparison table, sensitivity, mixed-precision attempts, lint, written files
    delta_miou_pts: float  # chosen INT8 − FP32, percentage points (negative: worse; measured on the QDQ ONNX)
    target_pts: float
    met_target: bool  # True when the target is met or the parity search is disabled
    float_layers: tuple[str, ...]


class QuantizeSession:
    """One FP32 checkpoint, its data at the deployment size, and the scoring of INT8 candidates."""

    def __init__(self, cfg: QuantCfg, checkpoint: str | Path, out_dir: str | Path,
                 data_overrides: list[str] | None = None, eval_backend: str = EXACT_QDQ,
                 threads: int | None = None, also_score: Sequence[str] = ()):
        self.cfg, self.checkpoint, self.out_dir = cfg, Path(checkpoint), Path(out_dir)
        self.eval_backend, self.threads, self.also_score = eval_backend, threads, tuple(also_score)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.payload = load_checkpoint(checkpoint)
        if "config" not in self.payload:
            raise CheckpointError(f"{checkpoint}: checkpoint has no training recipe ('config'); "
                                  "the data to calibrate and score on comes from it")
        self.schema = schema_of(self.payload)
        self.model = build_model_from_checkpoint(self.payload).eval()
        recipe = from_dict(RecipeCfg, apply_overrides(self.payload["config"],
                                                      [f"data.{o}" for o in data_overrides or []]))
        self.data_cfg = dataclasses.replace(recipe.data, size=cfg.input_size)
        train_source = self._source(self.data_cfg.train_split)
        self.calib = calibration_batches(train_source, cfg.input_size, cfg.calib_images, cfg.calib_batch_size)
        self.eval_set = load_eval_set(self._source(self.data_cfg.val_split), cfg.input_size, cfg.val_images)
        self.reference = score_torch(self.model, self.eval_set)
        self.sensitivity: list[LayerSensitivity] = []
        self.candidate_dir = self.out_dir / "candidates"
        self._train_loader: tuple[Any, Any, Any] | None = None  # built on the first QAT epoch

    def _source(self, split: str) -> SampleSource:
        source = build_source(self.data_cfg, split)
        if tuple(source.schema.class_names) != tuple(self.schema.class_names):
            raise DataError(f"split {split!r} uses schema {source.schema.name!r}, the checkpoint "
                            f"{self.schema.name!r}; pass --data FORMAT:PATH for the right dataset")
        return source

    def train_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Augmented training batches at the deployment size (QAT)."""
        if self._train_loader is None:
            # In-process loading: by now this process has run onnxruntime and torch.export thread pools,
            # and a forked DataLoader worker then deadlocks in OpenCV's thread pool (seen here).
            data_cfg = dataclasses.replace(self.data_cfg, workers=0)
            self._train_loader = build_loader(data_cfg, data_cfg.train_split, self.cfg.qat.batch_size,
                                              self.cfg.qat.seed, DistInfo(), train=True)
        loader, sampler, _ = self._train_loader
        sampler.set_epoch(epoch)
        for batch in loader:
            yield batch["image"], batch["label"]

    def score(self, quantized: QuantizedModel, path: Path) -> Candidate:
        """Export ``quantized`` to QDQ ONNX at ``path`` and score that file in the eval backend."""
        export_qdq_onnx(quantized, self.cfg.input_size, path, slim=self.cfg.slim)
        return Candidate(quantized, path, score_onnx(path, self.eval_set, self.eval_backend, self.threads))

    def delta(self, candidate: Candidate) -> float:
        return compare_matrices(self.reference, candidate.matrix).delta_miou_pts

    def rank_layers(self) -> list[str]:
        self.sensitivity = layer_sensitivity(self.model, self.calib, self.cfg)
        return [row.layer for row in self.sensitivity]

    def search(self, quantize_fn: Callable[[tuple[str, ...]], QuantizedModel],
               method: str) -> MixedPrecisionResult[Candidate]:
        """Quantize, and if parity is missed, keep the most sensitive layers float (bounded search)."""
        mp = self.cfg.mixed_precision
        return auto_mixed_precision(
            lambda layers: self.score(quantize_fn(layers), self.candidate_dir / f"{method}_{len(layers)}.onnx"),
            self.delta, self.rank_layers, mp.max_delta_miou_pts, mp.max_float_layers if mp.enabled else 0)

    def finish(self, result: MixedPrecisionResult[Candidate],
               rows: list[tuple[str, ConfusionMatrix]]) -> QuantizeReport:
        """Write the outputs of the chosen candidate; raises ``ExportError`` if the QDQ lint fails."""
        onnx_path = self.out_dir / ONNX_NAME
        shutil.copyfile(result.candidate.onnx_path, onnx_path)
        shutil.rmtree(self.candidate_dir, ignore_errors=True)
        lint = lint_qdq(onnx_path)
        if self.cfg.family in QDQ_LINTED_FAMILIES and not lint.ok:
            raise ExportError(f"{onnx_path} fails the TensorRT QDQ lint:\n{lint.format()}")
        comparison = compare(self.schema, rows)
        runtimes = self._other_runtimes(onnx_path, rows[-1][0])
        summary = self._summary(result, comparison, lint.format())
        summary["results"]["other_runtimes"] = json_safe(runtimes)
        save_quantized(result.candidate.quantized, self.cfg, self.payload, self.out_dir / CHECKPOINT_NAME,
                       metrics=summary["results"], source_path=self.checkpoint)
        save_config(self.cfg, self.out_dir / "quant_config.yaml")
        atomic_write_text(self.out_dir / "summary.json", json.dumps(summary, indent=2, allow_nan=False, default=str))
        mp = self.cfg.mixed_precision
        text = self._text(result, comparison, lint.format())
        if runtimes:
            text += "\n\nthe same QDQ ONNX in other runtimes (their own int8 kernels):\n" + "\n".join(runtimes)
        return QuantizeReport(text, result.delta_miou_pts,
                              mp.max_delta_miou_pts, result.met_target or not mp.enabled, result.float_layers)

    def _other_runtimes(self, onnx_path: Path, name: str) -> list[str]:
        """ΔmIoU of the chosen ONNX under each ``also_score`` runtime (a missing one says so)."""
        if not self.also_score:
            return []
        rows, missing = [("FP32 torch", self.reference)], []
        for backend in self.also_score:
            try:
                rows.append((f"{name} {backend}", score_onnx(onnx_path, self.eval_set, backend, self.threads)))
            except BackendUnavailable as exc:
                missing.append(f"{name} {backend}: unavailable ({exc})")
        return format_deltas(compare(self.schema, rows)[1:]).splitlines() + missing

    def _summary(self, result: MixedPrecisionResult[Candidate], comparison: list, lint: str) -> dict[str, Any]:
        import onnxruntime
        import torchao

        rows = [{**dataclasses.asdict(r), "per_class_f1": dict(zip(self.schema.class_names, r.per_class_f1)),
                 "delta_f1_pts": dict(zip(self.schema.class_names, r.delta_f1_pts))} for r in comparison]
        return json_safe({
            "command": sys.argv,
            "settings": {"checkpoint": str(self.checkpoint), "quant_config": to_dict(self.cfg),
                         "data": to_dict(self.data_cfg), "eval_images": len(self.eval_set),
                         "eval_backend": self.eval_backend, "also_score": list(self.also_score),
                         "threads": self.threads,
                         "versions": {"torch": torch.__version__, "torchao": torchao.__version__,
                                      "onnxruntime": onnxruntime.__version__}},
            "results": {"rows": rows, "float_layers": list(result.float_layers),
                        "met_target": result.met_target, "lint": lint,
                        "attempts": [dataclasses.asdict(a) for a in result.attempts],
                        "sensitivity": [dataclasses.asdict(s) for s in self.sensitivity]},
        })

    def _text(self, result: MixedPrecisionResult[Candidate], comparison: list, lint: str) -> str:
        title = (f"{self.checkpoint} → {self.out_dir} ({self.cfg.family}, {len(self.eval_set)} "
                 f"{self.data_cfg.format}/{self.data_cfg.val_split} images at {self.cfg.input_size}px; "
                 f"INT8 scored by running the QDQ ONNX in {_BACKEND_WORDS.get(self.eval_backend, self.eval_backend)})")
        parts = [title, "", format_comparison(self.schema, comparison), ""]
        if self.sensitivity:
            parts += ["layer sensitivity (one layer in int8 at a time, lowest SQNR first):",
                      format_sensitivity(self.sensitivity), ""]
        tried = ", ".join(f"{len(a.float_layers)} float → ΔmIoU {a.delta_miou_pts:+.2f}" for a in result.attempts)
        parts += [f"mixed precision: {tried}; float layers kept: {list(result.float_layers) or 'none'}", lint,
                  f"wrote {ONNX_NAME}, {CHECKPOINT_NAME}, quant_config.yaml, summary.json"]
        return "\n".join(parts)


def run_ptq(session: QuantizeSession) -> QuantizeReport:
    result = session.search(lambda layers: ptq(session.model, session.calib, session.cfg, layers), "ptq")
    rows = [("FP32 torch", session.reference), ("PTQ INT8", result.candidate.matrix)]
    return session.finish(result, rows)


def run_qat(session: QuantizeSession) -> QuantizeReport:
    """PTQ baseline (kept as ``ptq_int8_qdq.onnx``), then QAT with distillation and the parity search."""
    baseline = session.score(ptq(session.model, session.calib, session.cfg), session.out_dir / PTQ_BASELINE_NAME)
    teachers = [_load_teacher(path, session) for path in session.cfg.qat.teachers]
    result = session.search(
        lambda layers: qat(session.model, session.train_batches, session.cfg, teachers, layers), "qat")
    rows = [("FP32 torch", session.reference), ("PTQ INT8", baseline.matrix), ("QAT INT8", result.candidate.matrix)]
    return session.finish(result, rows)


def _load_teacher(path: str, session: QuantizeSession) -> torch.nn.Module:
    payload = load_checkpoint(path)
    if tuple(schema_of(payload).class_names) != tuple(session.schema.class_names):
        raise CheckpointError(f"teacher {path} predicts schema {schema_of(payload).name!r}, the student "
                              f"{session.schema.name!r}; KD needs the same label space (docs/design.md#distillation)")
    return build_model_from_checkpoint(payload).eval()
