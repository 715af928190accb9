"""Mixed label spaces: LFW's coarse labels become partial labels of the 19 CelebAMask-HQ classes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edge.data import Sample
from edge.errors import ConfigError
from edge.schemas import get_schema
from training.data.mixed import PARTIAL_ID_BASE, MixedSource, PartialSets, SourcePart
from training.data.torch_dataset import SegmentationDataset
from training.losses import PARTIAL_CODE_BASE, cross_entropy

CELEBA = get_schema("celebamask_hq")


class Constant:
    """``length`` samples of one label value in ``schema`` (names carry the index)."""

    def __init__(self, schema: str, value: int, length: int = 4):
        self.schema, self.value, self.length = get_schema(schema), value, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        image = np.full((8, 8, 3), 100, np.uint8)
        return Sample(image=image, label=np.full((8, 8), self.value, np.uint8), name=f"{self.schema.name}{index}")


def _codes_of(source: MixedSource, index: int) -> set[int]:
    batch = SegmentationDataset(source, 8, None)[index]
    return set(torch.unique(batch["label"]).tolist())


def test_lfw_face_is_the_set_of_skin_and_every_inner_part() -> None:
    source = MixedSource([SourcePart(Constant("celebamask_hq", 13), 1.0), SourcePart(Constant("lfw_parts", 1), 1.0)],
                         CELEBA)
    (code,) = _codes_of(source, 4)
    allowed = {c for c in range(CELEBA.num_classes) if (code - PARTIAL_CODE_BASE) >> c & 1}
    names = {CELEBA.class_names[c] for c in allowed}
    assert {"skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip"} <= names
    assert not names & {"hair", "background", "neck", "cloth"}
    assert _codes_of(source, 0) == {13}  # fine labels pass through unchanged


def test_lfw_hair_is_exact_hair() -> None:
    source = MixedSource([SourcePart(Constant("celebamask_hq", 0), 1.0), SourcePart(Constant("lfw_parts", 2), 1.0)],
                         CELEBA)
    assert _codes_of(source, 5) == {CELEBA.index("hair")}


def test_repeat_sets_each_part_share_of_an_epoch() -> None:
    source = MixedSource([SourcePart(Constant("celebamask_hq", 0, 10), 1.0),
                          SourcePart(Constant("lfw_parts", 1, 10), 0.5)], CELEBA)
    assert len(source) == 15
    assert [source.locate(i)[1] for i in range(10, 15)] == [0, 2, 4, 6, 8]  # evenly spaced subset
    with pytest.raises(ConfigError, match="repeat must be > 0"):
        MixedSource([SourcePart(Constant("lfw_parts", 1), 0.0)], CELEBA)


def test_a_partial_set_must_survive_a_flip() -> None:
    sets = PartialSets(CELEBA)
    assert sets.id_of((CELEBA.index("l_eye"), CELEBA.index("r_eye"))) == PARTIAL_ID_BASE
    with pytest.raises(ConfigError, match="not closed under left/right flips"):
        sets.id_of((CELEBA.index("l_eye"), CELEBA.index("skin")))


def test_partial_loss_constrains_only_the_sum_over_the_set() -> None:
    """−log Σ_S p: zero when all mass is inside the set, whichever member holds it."""
    code = PARTIAL_CODE_BASE + (1 << 1) + (1 << 2)  # {1, 2} of 4 classes
    target = torch.full((1, 1, 2), code)
    inside = torch.tensor([[20.0, 0.0], [0.0, 20.0]])  # pixel 0 on class 1, pixel 1 on class 2
    logits = torch.full((1, 4, 1, 2), -20.0)
    logits[0, 1:3, 0, :] = inside
    assert float(cross_entropy(logits, target)) < 1e-6
    uniform = torch.zeros(1, 4, 1, 2, requires_grad=True)
    loss = cross_entropy(uniform, target)
    assert float(loss.detach()) == pytest.approx(-np.log(0.5))
    loss.backward()
    grad = uniform.grad[0, :, 0, 0]
    assert grad[1] == grad[2] < 0 < grad[0] == grad[3]  # pushes mass into the set, not between its members


def test_exact_and_partial_pixels_mix_and_ignore_stays_zero() -> None:
    logits = torch.randn(2, 4, 3, 3)
    target = torch.randint(0, 4, (2, 3, 3))
    target[0, 0] = 255
    target[1, 1] = PARTIAL_CODE_BASE + 0b1111  # every class: log 1 = 0
    exact_only = target.clone()
    exact_only[1, 1] = 255
    n_exact, n_all = int((exact_only != 255).sum()), int((target != 255).sum())
    assert float(cross_entropy(logits, target)) * n_all == pytest.approx(
        float(cross_entropy(logits, exact_only)) * n_exact, rel=1e-5)


def test_the_edge_loss_ignores_the_unknown_inside_of_a_partial_label() -> None:
    """An edge predicted inside LFW's face (an eye border, say) costs nothing: the label cannot tell."""
    from dataclasses import dataclass

    from training.losses import EHANetLoss

    @dataclass
    class Outputs:
        logits: torch.Tensor
        aux_logits: torch.Tensor
        edge_logits: torch.Tensor

    target = torch.full((1, 4, 4), PARTIAL_CODE_BASE + 0b0110)
    target[:, :, 0] = 0
    boundary = torch.zeros(1, 4, 4, dtype=torch.uint8)
    boundary[:, :, :2] = 1
    logits = torch.zeros(1, 4, 4, 4)
    quiet = torch.zeros(1, 2, 4, 4)
    quiet[:, 1, :, :2] = 5.0  # edge where the boundary is known
    loud = quiet.clone()
    loud[:, 1, :, 2:] = 5.0  # and edges inside the partial region, where nothing is known
    loss = EHANetLoss(alpha=0.0)
    edge_quiet = loss(Outputs(logits, logits, quiet), target, boundary)["edge"]
    edge_loud = loss(Outputs(logits, logits, loud), target, boundary)["edge"]
    assert float(edge_quiet) == pytest.approx(float(edge_loud))


def test_an_unlabelled_image_adds_nothing_to_the_student_losses() -> None:
    """Distillation data (labels all ignore) reaches the student only through the KD terms."""
    from dataclasses import dataclass

    from training.losses import EHANetLoss

    @dataclass
    class Outputs:
        logits: torch.Tensor
        aux_logits: torch.Tensor
        edge_logits: torch.Tensor

    torch.manual_seed(0)
    logits, edges = torch.randn(1, 4, 4, 4, requires_grad=True), torch.randn(1, 2, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    losses = EHANetLoss(alpha=10.0)(Outputs(logits, logits, edges), target, torch.zeros(1, 4, 4))
    losses["total"].backward()
    assert float(losses["total"].detach()) == 0.0
    assert not logits.grad.any() and not edges.grad.any()
