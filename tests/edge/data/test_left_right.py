"""The left/right convention on real CelebAMask-HQ masks: ``l_*`` is the subject's left, the image right.

The synthetic painter and every schema follow this convention; this test pins it to real annotations.
"""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.schemas import get_schema

MASKS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "celebamask_mini" / "masks"
COUNT = 24  # a handful: enough that a few swapped annotations cannot flip the pooled means
PAIRS = (("l_eye", "r_eye"), ("l_brow", "r_brow"))


def _masks() -> list[np.ndarray]:
    if not MASKS.is_dir():
        pytest.skip(f"../shared/data/celebamask_mini is absent: no real CelebAMask-HQ masks at {MASKS}")
    files = sorted(MASKS.glob("*.png"))[:COUNT]
    assert len(files) == COUNT, f"expected at least {COUNT} masks in {MASKS}"
    # PIL, not cv2.imread: the masks are palette PNGs whose pixel values are the class ids.
    return [np.asarray(Image.open(f)) for f in files]


@pytest.mark.parametrize("left, right", PAIRS)
def test_celebamask_hq_left_parts_lie_on_the_image_right(left: str, right: str):
    schema = get_schema("celebamask_hq")
    l_id, r_id = schema.index(left), schema.index(right)
    l_xs, r_xs, agree, both = [], [], 0, 0
    for mask in _masks():
        xl, xr = np.nonzero(mask == l_id)[1], np.nonzero(mask == r_id)[1]
        l_xs.append(xl)
        r_xs.append(xr)
        if xl.size and xr.size:
            both += 1
            agree += int(xl.mean() > xr.mean())
    mean_l, mean_r = np.concatenate(l_xs).mean(), np.concatenate(r_xs).mean()
    assert mean_l > mean_r, f"{left} mean x {mean_l:.0f} is not right of {right} mean x {mean_r:.0f}"
    # Per mask too: about 7 % of CelebAMask-HQ masks have the pair the other way round.
    assert both >= COUNT // 2 and agree >= 0.75 * both, f"{left} right of {right} in {agree} of {both} masks"
