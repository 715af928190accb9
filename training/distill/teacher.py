"""Frozen teachers for distillation: loaded from checkpoints, run on the student's batch, combined.

docs/design.md#distillation: teacher and student see the same augmented image (only resized when the teacher wants
another input size); teacher logits are bilinearly resized to the student's logit grid *before*
the softmax; several teachers are combined by a weighted average of their probabilities; a teacher
trained on another label schema is translated with ``edge.schemas.probability_mapping``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from edge.errors import ConfigError
from edge.schemas import LabelSchema, get_schema, probability_mapping
from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of
from training.distill.config import NO_TTA, TeacherCfg, TtaCfg
from training.distill.losses import affinity, node_features
from training.models.layers import resize_to
from training.tta import TestTimeAugmented

log = logging.getLogger(__name__)

# Renormalising by less kept mass than this would blow up noise; such pixels get ~0 weight anyway.
_MIN_KEPT_MASS = 1e-6


@dataclass
class TeacherOutputs:
    """One teacher's answer for a batch, already on the student's grids."""

    logits: Tensor  # (N, C_teacher, h, w) on the student's logit grid, before any softmax
    nodes: Tensor | None  # (N, F_teacher, h', w'): features pooled into the student's SKD nodes


def schema_translation(teacher: LabelSchema, student: LabelSchema) -> np.ndarray | None:
    """The (C_teacher, C_student) 0/1 matrix summing teacher probabilities into student classes.

    None when the schemas are the same (no translation). Raises ``ConfigError`` naming both
    schemas when the project defines no mapping between them.
    """
    if teacher.class_names == student.class_names:
        return None
    problem = f"cannot convert teacher schema {teacher.name!r} to student schema {student.name!r}"
    try:
        registered = get_schema(teacher.name), get_schema(student.name)
        if (registered[0].class_names, registered[1].class_names) != (teacher.class_names, student.class_names):
            raise ConfigError("a schema's classes differ from the registered schema of the same name")
        return probability_mapping(teacher.name, student.name)
    except ConfigError as exc:
        raise ConfigError(f"{problem}: {exc}. Distil from a teacher trained on {student.name!r} or on a "
                          "schema with a mapping in edge/schemas/schemas.yaml") from exc


def load_teacher(spec: TeacherCfg, student_schema: LabelSchema, device: torch.device, tta: TtaCfg = NO_TTA
                 ) -> tuple[nn.Module, np.ndarray | None]:
    """A frozen teacher model (averaged over ``tta``'s views when enabled) and its schema
    translation; ``CheckpointError`` on a bad file."""
    payload = load_checkpoint(spec.checkpoint)
    translation = schema_translation(schema_of(payload), student_schema)
    model = build_model_from_checkpoint(payload).to(device).eval()
    model.requires_grad_(False)
    log.info("teacher %s: %s, schema %s%s%s", spec.checkpoint, payload["model_name"], payload["schema"]["name"],
             "" if translation is None else f" (translated to {student_schema.name})",
             f", TTA over {tta.views} views" if tta.enabled else "")
    if tta.enabled:
        schema = schema_of(payload)
        model = TestTimeAugmented(model, tta, schema.flip_pairs, schema.num_classes)
    return model, translation


class TeacherEnsemble(nn.Module):
    """Frozen teachers whose probabilities are averaged with weights on the student's label schema.

    The teachers stay in eval mode whatever ``train()`` is called with (BatchNorm statistics and
    dropout of a teacher must not move), never require gradients, and run under ``no_grad`` with
    fp16 autocast on CUDA.
    """

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float],
                 translations: Sequence[np.ndarray | None], student_schema: LabelSchema,
                 input_size: int | None = None):
        super().__init__()
        if not (len(models) == len(weights) == len(translations)) or not models:
            raise ConfigError("TeacherEnsemble needs one weight and one translation per teacher")
        self.models = nn.ModuleList(models)
        total = float(sum(weights))
        self.weights = [float(w) / total for w in weights]
        num_classes = student_schema.num_classes
        self.translations = [None if t is None else torch.from_numpy(t) for t in translations]
        covered = torch.zeros(num_classes, dtype=torch.bool)
        for t in self.translations:
            covered |= torch.ones(num_classes, dtype=torch.bool) if t is None else t.sum(0) > 0
        # Student classes that no teacher can speak about are left out of the KD terms.
        self.register_buffer("covered", covered, persistent=False)
        self.all_covered = bool(covered.all())  # kept on the host: no device sync per step
        self.input_size = input_size
        self.train(False)

    @classmethod
    def from_config(cls, teachers: Sequence[TeacherCfg], student_schema: LabelSchema, device: torch.device,
                    input_size: int | None = None, tta: TtaCfg = NO_TTA) -> TeacherEnsemble:
        loaded = [load_teacher(spec, student_schema, device, tta) for spec in teachers]
        return cls([m for m, _ in loaded], [s.weight for s in teachers], [t for _, t in loaded],
                   student_schema, input_size).to(device)

    def train(self, mode: bool = True) -> TeacherEnsemble:
        """Teachers are frozen: they stay in eval mode whatever is asked."""
        return super().train(False)

    def covered_classes(self, student_map: Tensor) -> Tensor:
        """The channels of an (N, C_student, h, w) map that the teachers cover."""
        return student_map if self.all_covered else student_map[:, self.covered]

    @torch.no_grad()
    def run(self, image: Tensor, logit_size: Sequence[int], feature_size: Sequence[int] | None = None,
            cell: int = 1) -> list[TeacherOutputs]:
        """Every teacher on the (normalised, augmented) batch image, resized to the student's grids.

        ``feature_size`` (the student's feature grid) asks for SKD nodes: teacher features are
        resized to it and pooled into ``cell``×``cell`` cells, so both sides have the same nodes.
        """
        if self.input_size is not None and tuple(image.shape[-2:]) != (self.input_size,) * 2:
            image = resize_to(image, (self.input_size, self.input_size))
        results = []
        with torch.autocast("cuda", dtype=torch.float16, enabled=image.device.type == "cuda"):
            for model in self.models:
                out = model.forward_train(image)
                logits = resize_to(out.logits.float(), tuple(logit_size))
                nodes = None
                if feature_size is not None:
                    nodes = node_features(resize_to(out.features.float(), tuple(feature_size)), cell)
                results.append(TeacherOutputs(logits, nodes))
        return results

    def probabilities(self, outputs: Sequence[TeacherOutputs], temperature: float = 1.0
                      ) -> tuple[Tensor, Tensor]:
        """Weighted teacher probabilities σ(z/T) on the student schema, and the kept mass per pixel.

        Each teacher's probabilities are summed into student classes; the mass of classes that map
        to ``ignore`` is dropped. Averaging the mapped mass with the weights and renormalising by the
        averaged kept mass gives the plain weighted average when no class is dropped, and otherwise
        lets each teacher speak at a pixel in proportion to the mass it keeps there. The kept mass
        (N, h, w), in [0, 1], is 1 for teachers on the student's schema.
        """
        mixed = None
        for weight, translation, out in zip(self.weights, self.translations, outputs):
            probs = torch.softmax(out.logits.float() / temperature, dim=1)
            if translation is not None:
                probs = torch.einsum("nkhw,kc->nchw", probs, translation.to(probs.device))
            mixed = weight * probs if mixed is None else mixed + weight * probs
        kept = mixed.sum(dim=1)
        return mixed / kept.clamp_min(_MIN_KEPT_MASS)[:, None], kept

    def affinity(self, outputs: Sequence[TeacherOutputs]) -> Tensor:
        """Weighted average of the teachers' SKD node affinities, (N, R, R)."""
        if any(out.nodes is None for out in outputs):
            raise ConfigError("teacher outputs carry no SKD nodes; run the teachers with feature_size")
        return sum(w * affinity(out.nodes) for w, out in zip(self.weights, outputs))
