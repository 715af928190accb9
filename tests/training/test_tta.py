"""Test-time augmentation: mirrors swap left/right classes back, scales return to the input grid."""
import pytest
import torch
from torch import nn

from edge.errors import ConfigError
from edge.schemas import get_schema
from training.distill.config import TtaCfg
from training.evaluate_cmd import parse_tta
from training.models import create_model
from training.tta import TestTimeAugmented, flip_channel_order

LAPA = get_schema("lapa")


class _LeftHalfModel(nn.Module):
    """Calls the image's left half class ``a`` and its right half class ``b``, whatever the image."""

    def __init__(self, num_classes: int, a: int, b: int):
        super().__init__()
        self.num_classes, self.a, self.b = num_classes, a, b

    def forward(self, image):
        n, _, h, w = image.shape
        logits = torch.zeros(n, self.num_classes, h, w)
        logits[:, self.a, :, : w // 2] = 10.0
        logits[:, self.b, :, w // 2:] = 10.0
        return logits


def test_flip_channel_order_swaps_each_pair_and_keeps_the_rest():
    assert flip_channel_order(5, [(1, 2), (3, 4)]) == [0, 2, 1, 4, 3]


def test_a_mirrored_view_of_a_left_right_consistent_model_agrees_with_the_plain_view():
    # A model that calls image-left "l" and image-right "r" is mirror-consistent: the mirrored
    # view sees the sides swapped, predicts the swapped class, and the channel swap undoes it.
    a, b = LAPA.flip_pairs[0]
    tta = TestTimeAugmented(_LeftHalfModel(LAPA.num_classes, a, b), TtaCfg(flip=True), LAPA.flip_pairs,
                            LAPA.num_classes)
    pred = tta(torch.zeros(1, 3, 64, 64)).argmax(1)
    assert (pred[:, :, :32] == a).all() and (pred[:, :, 32:] == b).all()


def test_without_the_channel_swap_the_mirror_would_cancel_the_sides():
    a, b = LAPA.flip_pairs[0]
    tta = TestTimeAugmented(_LeftHalfModel(LAPA.num_classes, a, b), TtaCfg(flip=True), [], LAPA.num_classes)
    probs = tta(torch.zeros(1, 3, 64, 64)).exp()
    assert torch.allclose(probs[:, a], probs[:, b], atol=1e-4)


def test_scaled_views_come_back_on_the_input_grid_as_log_probabilities():
    model = nn.Conv2d(3, LAPA.num_classes, 1)
    out = TestTimeAugmented(model, TtaCfg(scales=(0.75, 1.0, 1.25)), LAPA.flip_pairs, LAPA.num_classes)(
        torch.randn(2, 3, 64, 64))
    assert out.shape == (2, LAPA.num_classes, 64, 64)
    assert torch.allclose(out.exp().sum(1), torch.ones(2, 64, 64), atol=1e-4)


@pytest.mark.parametrize("scales", ["", "1,x", "0.1"])
def test_bad_tta_scales_are_a_one_line_config_error(scales):
    with pytest.raises(ConfigError, match="scales"):
        parse_tta(scales, False)


def test_training_outputs_reuse_the_plain_view_and_match_the_eval_average():
    torch.manual_seed(0)
    model = create_model("ehanet_mbv2", num_classes=LAPA.num_classes).eval()
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    tta = TestTimeAugmented(model, TtaCfg(flip=True), LAPA.flip_pairs, LAPA.num_classes)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = tta.forward_train(image)
        assert len(calls) == 1  # only the mirrored view runs forward(); the plain one came from forward_train
        expected = torch.nn.functional.interpolate(tta(image), size=out.logits.shape[-2:], mode="bilinear",
                                                   align_corners=False)
    assert torch.allclose(out.logits, expected, atol=1e-4)
