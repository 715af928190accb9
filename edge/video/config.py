"""``DemoCfg``: every knob of the video demo, loaded from ``configs/demo/*.yaml`` + overrides."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edge.errors import ConfigError


@dataclass(frozen=True)
class DetectCfg:
    detector: Literal["auto", "blazeface", "cascade"] = "auto"
    every: int = 5  # run the detector every k frames; tracks fill the gaps
    min_score: float = 0.6
    nms_iou: float = 0.3
    threads: int = 1


@dataclass(frozen=True)
class TrackCfg:
    match_iou: float = 0.3
    box_weight: float = 0.6  # EMA weight of a new detection (1 = raw boxes)
    max_misses: int = 1  # detection rounds a face may be missed before its track ends
    cut_diff: float = 40.0  # mean |Δgrey| of a 64-px thumbnail above which a frame is a scene cut


@dataclass(frozen=True)
class CropCfg:
    # Added on each side, as a fraction of the face box. 0.35 makes the crop 1.7× the detector's
    # forehead-to-chin box, so the face fills ~58 % of it, as in CelebAMask-HQ and the synthetic
    # training faces (0.5-0.66 of the image), with room for hair, ears and neck.
    margin: float = 0.35
    align: bool = False  # rotate crops so that the eyes are level (needs detector keypoints)
    # Keep a face's previous crop while the new one differs by less than this (centre shift as
    # a fraction of the crop, relative scale, roll in radians): a static face then gives the
    # model identical pixels, and the smoother need not resample its state. 0 = re-crop always.
    hold: float = 0.03


@dataclass(frozen=True)
class SmoothCfg:
    enabled: bool = True
    new_weight: float = 0.5  # EMA weight of the newest frame's logits
    pixel_reset: float = 24.0  # |Δgrey| in the crop above which a pixel takes the new frame as is
    max_shift: float = 0.25  # crop moves (fraction of its size) beyond which the state resets
    max_scale: float = 0.2  # relative crop rescale beyond which the state resets


@dataclass(frozen=True)
class OverlayCfg:
    alpha: float = 0.5
    contours: bool = False
    legend: bool = True
    hud: bool = True


@dataclass(frozen=True)
class DemoCfg:
    detect: DetectCfg = field(default_factory=DetectCfg)
    track: TrackCfg = field(default_factory=TrackCfg)
    crop: CropCfg = field(default_factory=CropCfg)
    smooth: SmoothCfg = field(default_factory=SmoothCfg)
    overlay: OverlayCfg = field(default_factory=OverlayCfg)
    flicker_static_diff: float = 6.0  # |Δgrey| (3×3 blurred) up to which a pixel counts as not moving
    codec: Literal["mp4v", "h264"] = "mp4v"
    max_side: int = 1920  # larger frames are downscaled on decode
    # Inference threads of the bundle's runner. One leaves the other core(s) of a small device to
    # decode, post-processing and encode, which then overlap with the model instead of slowing it.
    threads: int = 1
    queue_size: int = 4  # frames buffered between decode, parse and render
    model_runs: int = 30  # timed runs of the isolated model-only benchmark after the video

    def __post_init__(self) -> None:
        checks = {"detect.every": self.detect.every >= 1, "max_side": self.max_side >= 64,
                  "threads": self.threads >= 1, "queue_size": self.queue_size >= 1,
                  "model_runs": self.model_runs >= 1, "overlay.alpha": 0.0 <= self.overlay.alpha <= 1.0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"demo config: invalid {', '.join(bad)} (detect.every/threads/queue_size/"
                              f"model_runs >= 1, max_side >= 64, overlay.alpha in [0, 1])")
