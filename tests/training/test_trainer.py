"""The trainer: writes its artifacts, resumes mid-epoch exactly, refuses to clobber, stops on NaN."""
import pytest
import torch

from edge.cli import main
from edge.config import load_yaml
from edge.errors import ConfigError, EdgeparseError
from training.checkpoint import load_checkpoint
from training.config import load_recipe
from training.distributed import DistInfo
from training.trainer import Trainer

TINY = [
    "model.name=ehanet_mbv2", "data.size=64", "data.synthetic_train=24", "data.synthetic_val=4",
    "data.workers=0", "train.epochs=1", "train.batch_size=4", "train.checkpoint_interval=2",
    "train.log_interval=1", "optim.warmup_iters=2",
]


def _recipe(tmp_path, name, extra=()):
    return load_recipe(None, [*TINY, f"output_dir={tmp_path}", f"name={name}", *extra])


def test_run_writes_config_checkpoints_and_logs(tmp_path):
    best = Trainer(_recipe(tmp_path, "a"), DistInfo()).fit()
    run = tmp_path / "a"
    for name in ("config.yaml", "last.pt", "best.pt", "train.csv", "val.csv"):
        assert (run / name).exists(), name
    assert 0.0 <= best["miou"] <= 1.0
    payload = load_checkpoint(run / "best.pt")
    assert payload["schema"]["name"] == "lapa" and payload["metrics"]["miou"] == best["miou"]
    assert load_yaml(run / "config.yaml")["data"]["size"] == 64


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    Trainer(_recipe(tmp_path, "full"), DistInfo()).fit()
    reference = load_checkpoint(tmp_path / "full" / "last.pt")["state_dict"]

    original_step = Trainer._step
    calls = {"n": 0}

    def interrupted_step(self, batch):
        calls["n"] += 1
        if calls["n"] == 4:  # dies mid-epoch, after the checkpoint of iteration 2
            raise KeyboardInterrupt
        return original_step(self, batch)

    monkeypatch.setattr(Trainer, "_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        Trainer(_recipe(tmp_path, "cut"), DistInfo()).fit()
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["progress"]["global_iter"] == 2
    monkeypatch.setattr(Trainer, "_step", original_step)
    Trainer(_recipe(tmp_path, "cut"), DistInfo(), resume=True).fit()
    resumed = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert resumed["progress"]["global_iter"] == 6
    for key, value in reference.items():
        assert torch.allclose(value.float(), resumed["state_dict"][key].float(), atol=1e-6), key


def test_existing_run_needs_resume_or_force(tmp_path):
    Trainer(_recipe(tmp_path, "a"), DistInfo()).fit()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(_recipe(tmp_path, "a"), DistInfo())
    Trainer(_recipe(tmp_path, "a", ["train.epochs=1"]), DistInfo(), force=True)


def test_non_finite_loss_stops_training_and_keeps_the_checkpoint(tmp_path):
    def poisoned(batch, outputs):
        return {"poison": outputs.logits.sum() * float("nan")}

    trainer = Trainer(_recipe(tmp_path, "nan"), DistInfo(), extra_loss=poisoned)
    with pytest.raises(EdgeparseError, match="NaN|nan"):
        trainer.fit()


def test_distill_label_weight_scales_only_the_students_own_loss(tmp_path):
    """distill.label_weight is Hinton's 1 − λ: it scales the supervised loss, never the KD terms."""
    recipe = _recipe(tmp_path, "lw", ["distill.teachers=[{checkpoint: unused.pt}]", "distill.label_weight=0.25"])
    trainer = Trainer(recipe, DistInfo(), extra_loss=lambda batch, outputs: {"kd": torch.tensor(0.5)})
    supervised = {}
    criterion = trainer.criterion

    def spy(*args):
        terms = criterion(*args)
        supervised["total"] = float(terms["total"].detach())
        return terms

    trainer.criterion = spy
    terms = trainer._step(next(iter(trainer.train_loader)))
    assert terms["total"] == pytest.approx(0.25 * supervised["total"] + 0.5)
    with pytest.raises(ConfigError, match="label_weight"):
        _recipe(tmp_path, "bad", ["distill.teachers=[{checkpoint: unused.pt}]", "distill.label_weight=-1"])


def test_cli_trains_with_overrides(tmp_path, capsys):
    code = main(["train", "--config", "configs/train/smoke.yaml", *TINY, f"output_dir={tmp_path}", "name=cli"])
    assert code == 0
    assert "best miou" in capsys.readouterr().out
    assert main(["train", "--config", "configs/train/smoke.yaml", "train.epohcs=1"]) == 2


def test_init_checkpoint_warm_starts_and_checks_the_model(tmp_path):
    Trainer(_recipe(tmp_path, "a"), DistInfo()).fit()
    source = tmp_path / "a" / "best.pt"
    trainer = Trainer(_recipe(tmp_path, "b", [f"train.init_checkpoint={source}"]), DistInfo())
    weights = load_checkpoint(source)["state_dict"]
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in weights.items())
    with pytest.raises(ConfigError, match="init_checkpoint"):
        Trainer(_recipe(tmp_path, "c", [f"train.init_checkpoint={source}", "model.name=ehanet_effl0"]),
                DistInfo())


def test_an_architecture_variant_warm_starts_only_when_asked_and_only_what_fits(tmp_path, caplog):
    Trainer(_recipe(tmp_path, "a"), DistInfo()).fit()
    source = tmp_path / "a" / "best.pt"
    variant = [f"train.init_checkpoint={source}", "model.overrides={sgcb: conv1x1}"]
    with pytest.raises(ConfigError, match="init_strict=false"):
        Trainer(_recipe(tmp_path, "b", variant), DistInfo())
    trainer = Trainer(_recipe(tmp_path, "c", [*variant, "train.init_strict=false"]), DistInfo())
    weights, loaded = load_checkpoint(source)["state_dict"], trainer.model.state_dict()
    shared = [k for k in loaded if k in weights]
    assert shared and all(torch.equal(weights[k], loaded[k]) for k in shared)
    assert any(k.startswith("neck.gap_compensation") for k in set(loaded) - set(weights))
    assert "fresh: neck.gap_compensation.0" in caplog.text
