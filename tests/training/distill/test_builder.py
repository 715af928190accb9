"""``build_distill_loss``: named, weighted terms; zero weights skipped; gradients reach the student only."""
from pathlib import Path

import pytest
import torch

from edge.errors import ConfigError
from edge.schemas import get_schema
from training.checkpoint import build_model_from_checkpoint, load_checkpoint
from training.config import load_recipe
from training.distill.builder import build_distill_loss
from training.distill.losses import pixel_kl

LAPA = get_schema("lapa")


def _recipe(teacher, **weights):
    items = {"kd_weight": 1.0, "kd_boundary_weight": 1.0, "cwd_weight": 1.0, "pairwise_weight": 1.0, **weights}
    overrides = [f"distill.teachers=[{{checkpoint: '{teacher}'}}]", "data.size=64"]
    return load_recipe(None, overrides + [f"distill.{k}={v}" for k, v in items.items()])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    boundary = (torch.rand(2, 64, 64, generator=g) > 0.9).float()
    return {"image": torch.randn(2, 3, 64, 64, generator=g), "boundary": boundary,
            "label": torch.randint(0, LAPA.num_classes, (2, 64, 64), generator=g)}


def test_a_teacher_identical_to_the_student_gives_zero_kd_terms(make_teacher):
    path = make_teacher()
    student = build_model_from_checkpoint(load_checkpoint(path)).eval()
    loss = build_distill_loss(_recipe(path, temperature=2.0), LAPA, torch.device("cpu"))
    batch = _batch()
    with torch.no_grad():
        terms = loss(batch, student.forward_train(batch["image"]))
    assert set(terms) == {"kd", "kd_boundary", "cwd", "pairwise"}
    for name, value in terms.items():
        assert abs(value.item()) < 1e-5, name


def _terms_for_another_student(loss, make_teacher):
    """The loss's terms for a student unlike the teacher, with the student's and the teacher's logits."""
    student = build_model_from_checkpoint(load_checkpoint(make_teacher(seed=2))).eval()
    batch = _batch(1)
    with torch.no_grad():
        outputs = student.forward_train(batch["image"])
        terms = loss(batch, outputs)
        (teacher,) = loss.ensemble.run(batch["image"], outputs.logits.shape[-2:])
    return terms, outputs.logits, teacher.logits


def test_terms_are_weighted_and_zero_weights_are_skipped(make_teacher):
    path = make_teacher(seed=1)
    loss = build_distill_loss(_recipe(path, kd_weight=2.0, kd_boundary_weight=0, cwd_weight=0, temperature=3.0),
                              LAPA, torch.device("cpu"))
    terms, student_logits, teacher_logits = _terms_for_another_student(loss, make_teacher)
    assert set(terms) == {"kd", "pairwise"}
    expected = 2.0 * pixel_kl(student_logits, torch.softmax(teacher_logits / 3.0, 1), 3.0)
    assert terms["kd"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert terms["pairwise"].item() > 0


def test_teacher_temperature_sharpens_the_targets_and_not_the_student(make_teacher):
    path = make_teacher(seed=1)
    loss = build_distill_loss(_recipe(path, kd_boundary_weight=0, cwd_weight=0, pairwise_weight=0,
                                      teacher_temperature=0.5), LAPA, torch.device("cpu"))
    terms, student_logits, teacher_logits = _terms_for_another_student(loss, make_teacher)
    expected = pixel_kl(student_logits, torch.softmax(teacher_logits / 0.5, 1), 1.0)
    assert terms["kd"].item() == pytest.approx(expected.item(), rel=1e-4)
    with pytest.raises(ConfigError, match="teacher_temperature"):
        _recipe(path, teacher_temperature=0)


def test_label_resolution_compares_upsampled_logits_on_the_label_grid(make_teacher):
    path = make_teacher(seed=1)
    loss = build_distill_loss(_recipe(path, kd_boundary_weight=0, cwd_weight=0, pairwise_weight=0,
                                      kd_resolution="label"), LAPA, torch.device("cpu"))
    student = build_model_from_checkpoint(load_checkpoint(make_teacher(seed=2))).eval()
    batch = _batch(1)
    with torch.no_grad():
        outputs = student.forward_train(batch["image"])
        terms = loss(batch, outputs)
        (teacher,) = loss.ensemble.run(batch["image"], (64, 64))
    assert outputs.logits.shape[-1] < 64  # the student's own grid is coarser than the label
    upsampled = torch.nn.functional.interpolate(outputs.logits, size=(64, 64), mode="bilinear", align_corners=False)
    expected = pixel_kl(upsampled, torch.softmax(teacher.logits, 1))
    assert terms["kd"].item() == pytest.approx(expected.item(), rel=1e-4)
    with pytest.raises(ConfigError, match="kd_resolution must be one of logits, label"):
        _recipe(path, kd_resolution="full")


def test_gradients_reach_the_student_and_never_the_teacher(make_teacher):
    path = make_teacher()
    loss = build_distill_loss(_recipe(path), LAPA, torch.device("cpu"))
    student = build_model_from_checkpoint(load_checkpoint(make_teacher(seed=3))).train()
    batch = _batch(2)
    sum(loss(batch, student.forward_train(batch["image"])).values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is None for p in loss.ensemble.parameters())
    assert not any(m.training for m in loss.ensemble.modules())
    reference = load_checkpoint(path)["state_dict"]
    for key, value in loss.ensemble.models[0].state_dict().items():  # BN statistics did not move
        assert torch.equal(value, reference[key]), key


def test_bad_distill_sections_fail_clearly(make_teacher):
    with pytest.raises(ConfigError, match="at least one"):
        load_recipe(None, ["distill.kd_weight=1"])
    with pytest.raises(ConfigError, match="every term weight is 0"):
        _recipe("t.pt", kd_weight=0, kd_boundary_weight=0, cwd_weight=0, pairwise_weight=0)
    with pytest.raises(ConfigError, match="Did you mean 'temperature'"):
        load_recipe(None, ["distill.teachers=[{checkpoint: t.pt}]", "distill.temprature=2"])
    with pytest.raises(ConfigError, match="weight of 't.pt' must be > 0"):
        load_recipe(None, ["distill.teachers=[{checkpoint: t.pt, weight: 0}]"])


def test_a_teacher_on_another_schema_gives_finite_terms(make_teacher):
    """A LaPa teacher cannot speak about CelebAMask-HQ's neck or cloth: those classes are left out."""
    celeba = get_schema("celebamask_hq")
    loss = build_distill_loss(_recipe(make_teacher(schema="lapa")), celeba, torch.device("cpu"))
    student = build_model_from_checkpoint(load_checkpoint(make_teacher(schema="celebamask_hq", seed=5))).eval()
    batch = _batch(3)
    with torch.no_grad():
        terms = loss(batch, student.forward_train(batch["image"]))
    assert set(terms) == {"kd", "kd_boundary", "cwd", "pairwise"}
    assert all(torch.isfinite(v) and v > 0 for v in terms.values())


SHIPPED_RECIPES = sorted((Path(__file__).resolve().parents[3] / "configs" / "distill").glob("*.yaml"))


def test_the_shipped_recipes_are_found():
    assert len(SHIPPED_RECIPES) >= 4, SHIPPED_RECIPES


@pytest.mark.parametrize("path", SHIPPED_RECIPES, ids=lambda p: p.name)
def test_shipped_distill_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.distill is not None and recipe.distill.teachers
    assert recipe.data.size % 32 == 0  # the student's input multiple
