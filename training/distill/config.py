"""The ``distill`` section of a recipe (torch-free, so ``training.config`` can import it)."""
from __future__ import annotations

from dataclasses import dataclass

from edge.errors import ConfigError

KD_RESOLUTIONS = ("logits", "label")


@dataclass(frozen=True)
class TeacherCfg:
    checkpoint: str  # an edgeparse checkpoint (``runs/<teacher>/best.pt``)
    weight: float = 1.0  # weight of this teacher's probabilities in the ensemble average

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ConfigError(f"distill.teachers: weight of {self.checkpoint!r} must be > 0, got {self.weight}")


@dataclass(frozen=True)
class TtaCfg:
    """Test-time augmentation views (``training.tta``): each input scale, and its mirror when ``flip``.

    Lives here, torch-free, because recipes name it (``distill.teacher_tta``); ``evaluate --tta``
    uses it too.
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or any(not 0.25 <= s <= 4.0 for s in self.scales):
            raise ConfigError(f"tta.scales must be a non-empty list of factors in [0.25, 4], got {list(self.scales)}")

    @property
    def enabled(self) -> bool:
        return self.flip or tuple(self.scales) != (1.0,)

    @property
    def views(self) -> int:
        return len(self.scales) * (2 if self.flip else 1)


NO_TTA = TtaCfg()  # the plain view only


@dataclass(frozen=True)
class DistillCfg:
    """Knowledge-distillation terms added to the student's own loss (docs/design.md#distillation).

    Every term has its own weight; a zero weight skips the term (and its teacher work).
    Defaults are the public starting values: λ_kd = 1 (T = 1), λ_cwd = 3 (τ = 4), λ_pa = 1.
    """

    teachers: tuple[TeacherCfg, ...] = ()
    # Weight of the student's own supervised loss (Hinton's 1 − λ). Below 1 the teachers' soft
    # targets outweigh the labels: the knob for noisy labels (docs/distillation.md, "Measured").
    label_weight: float = 1.0
    temperature: float = 1.0  # T of the pixel-wise KL terms
    # T of the teachers' softmax in the KL targets; None = ``temperature`` (Hinton). Below 1 it
    # sharpens targets that a teacher trained on noisy labels spreads over neighbouring classes.
    teacher_temperature: float | None = None
    kd_weight: float = 1.0  # pixel-wise KL
    kd_boundary_weight: float = 0.0  # boundary-weighted KL, pixels weighted by 1 + α·b_i
    boundary_alpha: float = 10.0  # α of the boundary-weighted KL (BASS Eq. 4 style)
    cwd_weight: float = 3.0  # channel-wise distillation on logits
    cwd_tau: float = 4.0
    pairwise_weight: float = 1.0  # pairwise affinity (SKD) on the penultimate features
    pairwise_cells: int = 4  # β: features are average-pooled into β×β-pixel cells (the graph nodes)
    teacher_input_size: int | None = None  # teachers see the batch image resized to this; None = as is
    # Teachers label with their probabilities averaged over these views (scales of the teacher's
    # input, mirrors); TTA makes a stronger teacher at no training cost.
    teacher_tta: TtaCfg = TtaCfg()
    # Grid of the logit terms (KL, boundary KL, CWD): "logits" = the student's logit grid (1/4 of the
    # input, docs/design.md#distillation); "label" = both sides bilinearly upsampled to label size (its
    # alternative), which keeps thin parts (brows, lips) that span less than one logit cell.
    kd_resolution: str = "logits"
    cache_dir: str | None = None  # on-disk teacher-output cache; None = run the teachers every step

    def __post_init__(self) -> None:
        if not self.teachers:
            raise ConfigError("distill.teachers must list at least one {checkpoint: PATH, weight: W}")
        for name in ("temperature", "cwd_tau"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"distill.{name} must be > 0, got {getattr(self, name)}")
        if self.teacher_temperature is not None and not self.teacher_temperature > 0:
            raise ConfigError(f"distill.teacher_temperature must be > 0 or null, got {self.teacher_temperature}")
        for name in ("label_weight", "kd_weight", "kd_boundary_weight", "boundary_alpha", "cwd_weight", "pairwise_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"distill.{name} must be >= 0, got {getattr(self, name)}")
        if self.kd_resolution not in KD_RESOLUTIONS:
            raise ConfigError(f"distill.kd_resolution must be one of {', '.join(KD_RESOLUTIONS)}, "
                              f"got {self.kd_resolution!r}")
        if self.pairwise_cells < 1:
            raise ConfigError(f"distill.pairwise_cells must be >= 1, got {self.pairwise_cells}")
        if self.teacher_input_size is not None and self.teacher_input_size < 8:
            raise ConfigError(f"distill.teacher_input_size must be >= 8 pixels, got {self.teacher_input_size}")
        if not any(self.term_weights().values()):
            raise ConfigError("distill: every term weight is 0; set kd_weight, kd_boundary_weight, "
                              "cwd_weight or pairwise_weight")

    @property
    def target_temperature(self) -> float:
        """T of the teachers' softmax in the KL targets."""
        return self.temperature if self.teacher_temperature is None else self.teacher_temperature

    def term_weights(self) -> dict[str, float]:
        """Weight of each named loss term, in the order they are logged."""
        return {"kd": self.kd_weight, "kd_boundary": self.kd_boundary_weight,
                "cwd": self.cwd_weight, "pairwise": self.pairwise_weight}

    @property
    def needs_features(self) -> bool:
        return self.pairwise_weight > 0
