"""Teacher recipes: every one loads and names valid models, losses and boundary GT; the CPU recipe
trains end to end; `--backbone-weights PATH` reaches the model; `data.boundary` picks the GT."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.boundary import ce2p_boundary, neighbour_boundary
from edge.errors import UnknownNameError
from training import train_cmd
from training.config import load_recipe
from training.data.synthetic import SyntheticFaces
from training.data.torch_dataset import SegmentationDataset
from training.distributed import DistInfo
from training.losses import build_criterion
from training.losses_teachers import AGRNetLoss, BASSLoss
from training.models import model_overrides
from training.trainer import Trainer

CONFIGS = Path(__file__).parents[4] / "configs" / "train"
GPU_RECIPES = sorted(CONFIGS.glob("bass_r101_*_473.yaml")) + sorted(CONFIGS.glob("agrnet_r101_*_473.yaml"))


def test_every_teacher_recipe_exists():
    names = sorted(path.stem for path in GPU_RECIPES)
    assert names == ["agrnet_r101_celebamask_hq_473", "agrnet_r101_helen_473", "agrnet_r101_lapa_473",
                     "bass_r101_helen_473", "bass_r101_lapa_473"]


@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: p.stem)
def test_gpu_recipe_follows_spec(path):
    cfg = load_recipe(path)
    assert set(cfg.model.overrides) <= set(model_overrides(cfg.model.name))
    assert (cfg.data.size, cfg.optim.name, cfg.optim.lr, cfg.optim.momentum) == (473, "sgd", 1e-3, 0.9)
    assert (cfg.optim.weight_decay, cfg.optim.poly_power, cfg.train.select_metric) == (5e-4, 0.9, "mean_f1")
    assert cfg.data.augment.flip_prob == 0.0 and cfg.data.augment.rotate_deg == 30.0
    criterion = build_criterion(cfg.loss)
    if cfg.model.name == "agrnet_r101":
        assert isinstance(criterion, AGRNetLoss) and cfg.data.boundary == "neighbour"
        assert criterion.lambdas == (1.0, 1.0, 1.0, 0.5, 0.1) and not cfg.model.overrides["code_dilation"]
    else:
        assert isinstance(criterion, BASSLoss) and cfg.data.boundary == "ce2p" and criterion.alpha == 10.0


TINY = ["data.size=64", "data.synthetic_train=4", "data.synthetic_val=2", "data.workers=0",
        "train.epochs=1", "train.batch_size=2", "model.overrides.width=8", "optim.warmup_iters=0"]


@pytest.mark.parametrize("extra", [[], ["model.name=agrnet_r18", "loss.name=agrnet", "loss.alpha=null",
                                        "data.boundary=neighbour"]], ids=["bass", "agrnet"])
def test_cpu_teacher_recipe_trains_end_to_end(tmp_path, extra):
    torch.manual_seed(0)
    cfg = load_recipe(CONFIGS / "teacher_smoke.yaml", [*TINY, f"output_dir={tmp_path}", *extra])
    best = Trainer(cfg, DistInfo()).fit()
    assert 0.0 <= best["miou"] <= 1.0
    assert (cfg.run_dir / "best.pt").exists()


def test_backbone_weights_flag_sets_the_model_override():
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["--config", "c.yaml", "--backbone-weights", "/w/resnet101: imagenet.pth"])
    cfg = train_cmd.with_backbone_weights(load_recipe(CONFIGS / "bass_r101_lapa_473.yaml"), args.backbone_weights)
    assert cfg.model.overrides == {"fusion": "concat", "backbone_weights": "/w/resnet101: imagenet.pth"}


@pytest.mark.parametrize("kind, gt", [("ce2p", ce2p_boundary), ("neighbour", neighbour_boundary)])
def test_data_boundary_selects_the_boundary_ground_truth(kind, gt):
    dataset = SegmentationDataset(SyntheticFaces("lapa", size=64, length=1, seed=0), 64, None, boundary=kind)
    item = dataset[0]
    expected = gt(item["label"].numpy().astype(np.uint8))
    np.testing.assert_array_equal(item["boundary"].numpy(), expected.astype(np.float32))


def test_unknown_boundary_kind_is_an_unknown_name_error():
    with pytest.raises(UnknownNameError, match="neighbour"):
        SegmentationDataset(SyntheticFaces("lapa", size=64, length=1, seed=0), 64, None, boundary="canny")
