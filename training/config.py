"""Training recipes: one YAML file per recipe, loaded into these frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge.config import above, at_least, load_config
from edge.paths import child_folder
from training.data.augment import AugmentConfig
from training.distill.config import DistillCfg

DATA_FORMATS = ("synthetic", "prepared", "celebamask_hq", "lapa", "helen", "folder")


@dataclass(frozen=True)
class ExtraSourceCfg:
    """One more training dataset, mixed into the primary one's label space.

    Labels in another schema are translated through the schema mappings; a coarse class that
    covers several fine ones becomes a partial label (e.g. LFW's face). A folder without masks is
    unlabelled: only distillation terms reach its images.
    """

    root: str
    schema: str
    format: Literal["prepared", "celebamask_hq", "lapa", "helen", "folder"] = "folder"
    split: str = "train"
    repeat: float = above(0, 1.0)  # samples per epoch as a multiple of the folder's size (< 1: a fixed subset)


@dataclass(frozen=True)
class DataCfg:
    """Where samples come from and at what size the model sees them."""

    format: Literal["synthetic", "prepared", "celebamask_hq", "lapa", "helen", "folder"] = "synthetic"
    root: str | None = None  # dataset folder; unused for synthetic
    # Label schema of synthetic and folder data; the other formats carry their own.
    schema: str = "lapa"
    size: int = at_least(1, 256)  # square training and evaluation input size
    train_split: str = "train"
    val_split: str = "val"
    # Boundary ground truth: "ce2p" (EHANet, BASS) or "neighbour" (AGRNet): docs/design.md#boundary-ground-truth.
    boundary: Literal["ce2p", "neighbour"] = "ce2p"
    synthetic_train: int = at_least(1, 2000)  # synthetic samples per epoch
    synthetic_val: int = at_least(1, 200)
    seed: int = 0  # synthetic content seed (val uses seed + 1)
    workers: int = at_least(0, 2)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    extra_train: tuple[ExtraSourceCfg, ...] = ()  # mixed into the train split only; val stays primary


@dataclass(frozen=True)
class ModelCfg:
    name: str = "ehanet_mbv2"
    overrides: dict[str, Any] = field(default_factory=dict)  # checked by create_model


@dataclass(frozen=True)
class LossCfg:
    name: str = "ehanet"  # criterion registered in training.losses.CRITERIA: ehanet | bass | agrnet
    # Boundary weight α of the final parsing loss, (1 + α·b_i)·CE_i; None = the criterion's default:
    # ehanet 50 (docs/design.md#student-loss), bass 10 (docs/design.md#bass). agrnet has no α.
    alpha: float | None = None
    aux_weight: float = 1.0  # ehanet only
    edge_weight: float = 1.0  # ehanet only
    # bass and agrnet: the weight of each term; None = the paper's. bass (λ_s, λ_b, λ_bs) = (1, 1, 1);
    # agrnet (λ_raw, λ_edge, λ_BA, λ_final, λ_dis) = (1, 1, 1, 0.5, 0.1) (docs/design.md#agrnet).
    lambdas: tuple[float, ...] | None = None
    delta: float | None = None  # agrnet: L_dis margin on normalised vertices; None = 1 (docs/design.md#agrnet)


@dataclass(frozen=True)
class OptimCfg:
    name: Literal["sgd", "adamw"] = "adamw"
    lr: float = above(0, 1e-3)
    momentum: float = at_least(0, 0.9)  # SGD only
    weight_decay: float = at_least(0, 1e-4)
    warmup_iters: int = at_least(0, 100)
    warmup_factor: float = above(0, 1.0 / 3.0)  # warm-up starts at lr * factor (docs/design.md#training-recipe)
    poly_power: float = at_least(0, 0.9)


@dataclass(frozen=True)
class TrainCfg:
    epochs: int = at_least(1, 10)
    batch_size: int = at_least(1, 8)  # per process
    eval_interval: int = at_least(1, 1)  # epochs between validations
    checkpoint_interval: int = at_least(1, 50)  # iterations between `last.pt` saves (mid-epoch resume)
    amp: bool = True  # only takes effect on CUDA
    seed: int = 2020
    grad_clip: float | None = above(0, None)
    log_interval: int = at_least(1, 10)
    select_metric: Literal["miou", "mean_f1"] = "miou"  # chosen on val, never on test
    init_checkpoint: str | None = None  # warm-start weights (e.g. fine-tune at a new size)
    # False: warm-start an architecture variant (e.g. model.overrides.sgcb) from the tensors whose name
    # and shape match; the rest keep their fresh initialisation, and the log names them.
    init_strict: bool = True


@dataclass(frozen=True)
class RecipeCfg:
    name: str = "recipe"
    output_dir: str = "runs"  # the run writes to output_dir/name
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    loss: LossCfg = field(default_factory=LossCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    distill: DistillCfg | None = None  # teachers and KD weights (docs/design.md#distillation); None = no distillation

    def __post_init__(self) -> None:
        run_folder(self.output_dir, self.name)  # refuses, before anything runs, a name that leaves output_dir

    @property
    def run_dir(self) -> Path:
        return run_folder(self.output_dir, self.name)


def run_folder(output_dir: str, name: str) -> Path:
    """``output_dir/name``; ``ConfigError`` unless ``name`` is one folder name (nothing lands outside)."""
    return child_folder(output_dir, name, "name", "to write elsewhere, set output_dir=FOLDER")


def load_recipe(path: str | Path | None, overrides: list[str] | None = None) -> RecipeCfg:
    return load_config(RecipeCfg, path, overrides)
