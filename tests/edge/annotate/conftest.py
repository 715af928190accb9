"""Real face meshes for the annotate tests: the shipped face-mesh model on the public-domain portraits
that wheels in the lock ship (matplotlib's Grace Hopper, scikit-image's astronaut)."""
from __future__ import annotations

import numpy as np
import pytest

from edge.errors import BackendUnavailable, DataError


@pytest.fixture(scope="session")
def portrait_meshes():
    """{name: (image, FaceMesh)} of the largest face in each portrait."""
    from edge.annotate.landmarks import FaceLandmarker
    from edge.video.clip import load_photo
    from edge.video.detect import open_detector

    try:
        landmarker, detector = FaceLandmarker(), open_detector("blazeface")
        out = {}
        for name in ("grace_hopper", "astronaut"):
            image = load_photo(name)
            face = max(detector.detect(image), key=lambda f: f.score)
            out[name] = (image, landmarker(image, face))
        return out
    except (BackendUnavailable, DataError) as exc:
        pytest.skip(str(exc))


def class_centre(labels: np.ndarray, class_id: int) -> np.ndarray:
    ys, xs = np.nonzero(labels == class_id)
    assert len(xs), f"class {class_id} is absent"
    return np.array([xs.mean(), ys.mean()])
