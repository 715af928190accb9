"""Teacher ensemble: weighting, schema translation, clear errors on bad teachers, frozen teachers."""
import pytest
import torch
from torch import nn

from edge.errors import CheckpointError, ConfigError
from edge.schemas import get_schema
from training.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint
from training.distill.config import TeacherCfg, TtaCfg
from training.distill.teacher import TeacherEnsemble, TeacherOutputs, schema_translation
from training.models.layers import resize_to

LAPA, CELEBA = get_schema("lapa"), get_schema("celebamask_hq")


def _ensemble(schemas, weights, student=LAPA):
    translations = [schema_translation(s, student) for s in schemas]
    return TeacherEnsemble([nn.Identity() for _ in schemas], weights, translations, student)


def _outputs(num_classes, seed):
    logits = torch.randn(2, num_classes, 3, 3, generator=torch.Generator().manual_seed(seed)) * 3
    return TeacherOutputs(logits, None)


def test_weighted_average_of_probabilities():
    ens = _ensemble([LAPA, LAPA], [3.0, 1.0])
    a, b = _outputs(11, 0), _outputs(11, 1)
    T = 2.0
    probs, kept = ens.probabilities([a, b], T)
    expected = 0.75 * torch.softmax(a.logits / T, 1) + 0.25 * torch.softmax(b.logits / T, 1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(kept, torch.ones_like(kept), atol=1e-6) and ens.all_covered


def test_celebamask_teacher_is_translated_to_a_lapa_student():
    ens = _ensemble([CELEBA], [1.0])
    out = _outputs(19, 2)
    probs, kept = ens.probabilities([out], 1.0)
    p = torch.softmax(out.logits, 1)
    c = {name: p[:, CELEBA.index(name)] for name in CELEBA.class_names}
    dropped = sum(c[n] for n in ("eye_g", "l_ear", "r_ear", "hat", "ear_r", "neck_l"))
    assert torch.allclose(kept, 1 - dropped, atol=1e-6)
    background = (c["background"] + c["neck"] + c["cloth"]) / (1 - dropped)
    assert torch.allclose(probs[:, LAPA.index("background")], background, atol=1e-6)
    assert torch.allclose(probs[:, LAPA.index("mouth")], c["mouth"] / (1 - dropped), atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(2, 3, 3), atol=1e-6)


def test_student_classes_no_teacher_covers_are_marked():
    ens = _ensemble([LAPA], [1.0], student=CELEBA)  # LaPa maps its background to ignore
    uncovered = {CELEBA.class_names[i] for i in range(19) if not ens.covered[i]}
    assert uncovered == {"background", "eye_g", "l_ear", "r_ear", "hat", "ear_r", "neck_l", "neck", "cloth"}


def test_schema_without_mapping_fails_naming_both(tmp_path):
    lip = {"name": "lip", "class_names": [f"c{i}" for i in range(20)], "colors": [[0, 0, 0]] * 20}
    path = tmp_path / "lip.pt"
    save_checkpoint({"model_name": "ehanet_mbv2", "num_classes": 20, "schema": lip, "state_dict": {}}, path)
    with pytest.raises(ConfigError, match="cannot convert teacher schema 'lip' to student schema 'lapa'"):
        TeacherEnsemble.from_config([TeacherCfg(str(path))], LAPA, torch.device("cpu"))


def test_missing_or_corrupt_teacher_file_is_a_checkpoint_error(make_teacher, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        TeacherEnsemble.from_config([TeacherCfg(str(tmp_path / "none.pt"))], LAPA, torch.device("cpu"))
    path = make_teacher()
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated"):
        TeacherEnsemble.from_config([TeacherCfg(str(path))], LAPA, torch.device("cpu"))


def test_teachers_are_frozen_and_stay_in_eval(make_teacher):
    ens = TeacherEnsemble.from_config([TeacherCfg(str(make_teacher()))], LAPA, torch.device("cpu"))
    ens.train()
    assert not any(m.training for m in ens.modules())
    assert not any(p.requires_grad for p in ens.parameters())
    outputs = ens.run(torch.randn(2, 3, 64, 64), (16, 16), (16, 16), cell=4)
    assert not outputs[0].logits.requires_grad


def test_teacher_logits_come_from_its_own_input_size_resized_to_the_student_grid(make_teacher):
    path = make_teacher()
    ens = TeacherEnsemble.from_config([TeacherCfg(str(path))], LAPA, torch.device("cpu"), input_size=96)
    image = torch.randn(1, 3, 64, 64)
    (out,) = ens.run(image, (16, 16), (16, 16), cell=4)
    assert out.logits.shape == (1, 11, 16, 16) and out.nodes.shape == (1, 96, 4, 4)
    model = build_model_from_checkpoint(load_checkpoint(path)).eval()
    with torch.no_grad():
        reference = resize_to(model.forward_train(resize_to(image, (96, 96))).logits, (16, 16))
    assert torch.allclose(out.logits, reference, atol=1e-5)


def test_a_teacher_that_drops_a_pixels_mass_leaves_it_to_the_others():
    ens = _ensemble([CELEBA, LAPA], [1.0, 1.0])
    celeba, lapa = _outputs(19, 3), _outputs(11, 4)
    celeba.logits[0, CELEBA.index("hat"), 1, 1] = 100.0  # all of this pixel's mass maps to ignore
    probs, kept = ens.probabilities([celeba, lapa], 1.0)
    assert kept[0, 1, 1].item() == pytest.approx(0.5, abs=1e-6)
    assert torch.allclose(probs[0, :, 1, 1], torch.softmax(lapa.logits[0, :, 1, 1], 0), atol=1e-5)


def test_a_tta_teacher_gives_the_ensemble_its_averaged_logits(make_teacher):
    path = make_teacher()
    plain = TeacherEnsemble.from_config([TeacherCfg(str(path))], LAPA, torch.device("cpu"))
    tta = TeacherEnsemble.from_config([TeacherCfg(str(path))], LAPA, torch.device("cpu"), tta=TtaCfg(flip=True))
    image = torch.randn(1, 3, 64, 64)
    (p,), (t,) = plain.run(image, (16, 16)), tta.run(image, (16, 16))
    assert t.logits.shape == p.logits.shape == (1, LAPA.num_classes, 16, 16)
    assert not torch.allclose(t.logits.softmax(1), p.logits.softmax(1), atol=1e-3)
