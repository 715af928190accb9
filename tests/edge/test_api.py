"""The Python API (edge/api.py) on the tiny ONNX bundle: whole images, face crops with a detector
of known boxes, the overlay, class areas, input checks, and the three lines without torch."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from edge import FaceParser
from edge.backends import open_runner
from edge.errors import BackendUnavailable, InputError
from edge.preprocess import argmax_labels, labels_to_size, preprocess
from edge.video.crop import NO_FACE
from edge.video.detect import FaceDetection
from edge.video.parse import FrameParser


@pytest.fixture
def bundle(make_bundle):
    """The tiny ONNX bundle (32×32 input, 6 classes), loaded and verified."""
    from edge.bundle import load_bundle

    return load_bundle(make_bundle())


class FixedDetector:
    """Returns the same boxes for every image: the crops are known."""

    name = "fixed"

    def __init__(self, *boxes: tuple[float, float, float, float], score: float = 0.875):
        self.faces = [FaceDetection(box, score) for box in boxes]

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        return self.faces


def runner_labels(bundle, image: np.ndarray) -> np.ndarray:
    """The runner's own argmax on the preprocessed image, at the image size."""
    with open_runner(bundle) as runner:
        logits = runner.infer(preprocess(image, runner.input_spec.shape[2:4], bundle.manifest.input.normalization))
    return labels_to_size(argmax_labels(logits)[0], image.shape[:2])


def textured(height: int, width: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_three_lines_parse_an_image_at_the_model_size_as_the_runner_does(make_bundle, tiny):
    bundle_path = make_bundle()
    parser = FaceParser(bundle_path, faces=False)
    result = parser(tiny.images[0])
    np.testing.assert_array_equal(result.labels, argmax_labels(tiny.reference_logits[:1])[0])
    assert result.labels.dtype == np.uint8 and result.schema == tiny.schema and result.mode == "whole"
    parser.close()


def test_whole_image_labels_are_at_the_image_size_and_the_image_is_the_one_face(bundle, tiny):
    image = textured(48, 80)
    with FaceParser(bundle, faces=False) as parser:
        result = parser(image)
    np.testing.assert_array_equal(result.labels, runner_labels(bundle, image))
    (face,) = result.faces
    assert face.box == (0.0, 0.0, 80.0, 48.0) and face.score is None and face.crop_box == (0, 0, 80, 48)
    areas = result.class_areas()
    assert sum(a.pixels for a in areas.values()) == 48 * 80
    assert sum(a.pct for a in areas.values()) == pytest.approx(100.0)
    assert list(areas) == list(tiny.schema.class_names) and areas["hat"].pixels == 0  # never predicted


def test_face_crops_are_the_demos_labels_pasted_back_with_their_own_areas(bundle):
    image = textured(96, 128)
    detector = FixedDetector((40.0, 30.0, 70.0, 60.0))
    with FaceParser(bundle, detector=detector) as parser:
        result = parser(image)
        demo = FrameParser(parser._runner, bundle.manifest.input.normalization, detector, parser.cfg)
        np.testing.assert_array_equal(result.labels, demo.process(image, 0).raw)
    (face,) = result.faces
    assert result.mode == "faces" and face.box == (40.0, 30.0, 70.0, 60.0) and face.score == 0.875
    x0, y0, x1, y1 = face.crop_box
    assert x0 < 40 and y0 < 30 and x1 > 70 and y1 > 60  # the crop adds the margin around the box
    inside = np.zeros(image.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    assert (result.labels[~inside] == NO_FACE).all() and (result.labels[inside] != NO_FACE).all()
    np.testing.assert_array_equal(result.labels[y0:y1, x0:x1], face.labels)
    areas = result.class_areas(0)
    assert sum(a.pixels for a in areas.values()) == (x1 - x0) * (y1 - y0)
    assert sum(a.pct for a in areas.values()) == pytest.approx(100.0)


def test_each_face_keeps_its_own_crop_where_crops_overlap(bundle):
    image = textured(96, 160)
    boxes = ((30.0, 30.0, 60.0, 60.0), (50.0, 30.0, 80.0, 60.0))
    with FaceParser(bundle, detector=FixedDetector(*boxes)) as parser:
        result = parser(image)
    assert [f.box for f in result.faces] == list(boxes)
    union = sum(a.pixels for a in result.class_areas().values())
    own = [sum(a.pixels for a in result.class_areas(i).values()) for i in range(2)]
    assert union < sum(own)  # the overlap counts once in the union, once per face in its own areas


def test_no_face_leaves_the_labels_unparsed_and_the_overlay_unchanged(bundle):
    image = textured(40, 60)
    with FaceParser(bundle, detector=FixedDetector()) as parser:
        result = parser(image)
    assert result.faces == [] and (result.labels == NO_FACE).all()
    np.testing.assert_array_equal(result.overlay(), image)
    assert all(a.pixels == 0 and a.pct == 0.0 for a in result.class_areas().values())


def test_overlay_has_the_image_size_and_colours_only_face_classes(bundle):
    image = textured(48, 80)
    with FaceParser(bundle, faces=False) as parser:
        result = parser(image)
    overlay = result.overlay(legend=False)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    background = result.labels == 0
    np.testing.assert_array_equal(overlay[background], image[background])
    assert (overlay[~background] != image[~background]).any()
    assert result.overlay().shape == image.shape  # with the legend drawn in


def test_grey_and_rgba_inputs_are_converted_and_other_channel_counts_refused(bundle):
    rgb = textured(32, 32)
    with FaceParser(bundle, faces=False) as parser:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        assert parser(grey).labels.shape == (32, 32)
        rgba = np.dstack([rgb, np.full((32, 32), 255, np.uint8)])
        np.testing.assert_array_equal(parser(rgba).labels, parser(rgb).labels)
        with pytest.raises(InputError, match="expected 1, 3 or 4 channels"):
            parser(rgb[:, :, :2])
        with pytest.raises(InputError, match="uint8"):
            parser(rgb.astype(np.float32))


def test_faces_true_needs_a_detector_and_the_default_falls_back_to_whole_images(bundle, monkeypatch, caplog):
    def unavailable(*args, **kwargs):
        raise BackendUnavailable("no face detector available: test")

    monkeypatch.setattr("edge.api.open_detector", unavailable)
    with pytest.raises(BackendUnavailable, match="no face detector"):
        FaceParser(bundle, faces=True)
    with caplog.at_level(logging.WARNING), FaceParser(bundle) as parser:
        assert parser.mode == "whole" and parser.detector is None
    assert "parsing whole images" in caplog.text


def test_faces_false_wins_over_a_detector(bundle):
    with FaceParser(bundle, faces=False, detector=FixedDetector((1.0, 1.0, 9.0, 9.0))) as parser:
        assert parser.mode == "whole" and parser.detector is None


def test_still_image_settings_turn_off_what_needs_a_previous_frame(bundle):
    with FaceParser(bundle, faces=False) as parser:
        cfg = parser.cfg
    assert not cfg.smooth.enabled and cfg.detect.every == 1 and cfg.crop.hold == 0.0 and not cfg.overlay.hud


def test_import_edge_is_cheap_and_the_api_runs_without_torch(run_without_torch, make_bundle, tiny):
    code = """
        import sys
        import edge
        assert not {"numpy", "cv2", "onnxruntime"} & set(sys.modules), sorted(sys.modules)
        import numpy as np
        from edge import FaceParser
        parser = FaceParser(sys.argv[1], faces=False)
        result = parser(np.zeros((20, 30, 3), np.uint8))
        assert result.labels.shape == (20, 30) and result.overlay().shape == (20, 30, 3)
        assert "torch" not in sys.modules
        print("OK")
    """
    proc = run_without_torch(code, str(make_bundle()))
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_a_best_pointer_opens_the_recommended_bundle_and_strict_refuses_an_unvalidated_one(make_bundle, caplog):
    from edge.bundle import MANIFEST_FILE, BestPointer, best_pointer_path, write_best_pointer
    from edge.errors import BundleError
    from edge.io import file_sha256

    path = make_bundle()
    write_best_pointer(best_pointer_path(path.parent, "tiny", "onnx"),
                       BestPointer(path.name, "onnx", "fp32", file_sha256(path / MANIFEST_FILE), 1.0))
    best = path.parent / "tiny_onnx_best"
    with pytest.raises(BundleError, match="--strict refuses this bundle: .* never validated"):
        FaceParser(best, faces=False, strict=True)
    with caplog.at_level(logging.WARNING), FaceParser(best, faces=False) as parser:
        assert parser.bundle.path == path
        assert parser(textured(20, 30)).labels.shape == (20, 30)
    assert "never validated" in caplog.text
