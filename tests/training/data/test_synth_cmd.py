"""`edgeparse data synth` writes the same samples SyntheticFaces yields, plus a preview grid."""
from __future__ import annotations

import cv2
import numpy as np

from edge.cli import main
from training.data.synthetic import SyntheticFaces


def test_synth_command_writes_images_labels_and_grid(tmp_path, capsys):
    out = tmp_path / "synth"
    rc = main(["data", "synth", "--out", str(out), "--schema", "celebamask_hq", "--count", "3", "--size", "64",
               "--seed", "2", "--grid"])
    assert rc == 0
    faces = SyntheticFaces("celebamask_hq", size=64, length=3, seed=2)
    for i in range(3):
        label = cv2.imread(str(out / f"{i}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(label, faces[i].label)
        image = cv2.imread(str(out / f"{i}.jpg"), cv2.IMREAD_COLOR)[..., ::-1]
        assert image.shape == (64, 64, 3)
        assert np.abs(image.astype(int) - faces[i].image).mean() < 12  # JPEG, same picture
    grid = cv2.imread(str(out / "preview.png"))
    assert grid.shape == (64, 3 * 2 * 64, 3)  # one row: 3 tiles of image | colourised label
    assert "wrote 3 celebamask_hq samples" in capsys.readouterr().out


def test_synth_command_rejects_a_zero_count(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--count", "0"]) == 2
    assert "--count" in capsys.readouterr().err
