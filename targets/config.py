"""``DeployCfg``: what ``edgeparse deploy`` builds and how strictly it checks it.

Loaded from ``configs/deploy/default.yaml`` (the same values as the defaults here) plus dotted
``key=value`` overrides, e.g. ``validation_images=8 bench.runs=50 int8.source=nncf``.

Parity thresholds are per precision and are *drops* vs the FP32 reference on the bundle's
validation set, in percentage points (ΔmIoU, worst-class ΔF1) and % (argmax agreement, 99.9 meaning
99.9 %; a value <= 1 is refused as a fraction), plus at fp32 a limit on max |Δlogit|:

* fp32: 0.1 / 0.5 / 99.9 and max |Δlogit| 0.01 - a correct FP32 conversion is exact to ~1e-5 in the
  logits; anything visible is a conversion bug (wrong layout, normalisation, resize mode). On the
  default student at 256² OpenVINO and LiteRT FP32 differ from onnxruntime by 4e-6 and 1e-5 beyond
  the float16 rounding of the stored reference logits, while 1e-3 noise on the weights of one
  convolution gives 0.22 and moves too few pixels for the other gates: 0.01 is 1000x the first and
  a 22nd of the second.
* fp16: 0.3 / 1.0 / 99.5 - FP16 weights move logits by ~1e-2 and flip a few boundary pixels.
* bf16: 0.5 / 2.0 / 99.0 - bf16 arithmetic rounds every activation to 8 mantissa bits, not just
  the weights: on the default student max |Δlogit| is ~1.2 and 99.85 % of the pixels agree
  (ΔmIoU -0.01, worst ΔF1 -0.25), so these limits leave room for other models without hiding a
  lost class.
* int8: 1.0 / 3.0 / 98.0 - PTQ/QAT at 256² measured 98.5-99.9 % agreement and ≤ 3 mIoU points
  (docs/design.md#parity-limits); a thin class (earrings, necklace) may lose more F1 than mIoU shows, hence the
  separate per-class limit. With the default 32 validation images one flipped thin-class blob is
  about 1 F1 point, so tighter int8 limits would gate on noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Literal

from edge.bundle import ParityThresholds
from edge.config import check_input_size, load_config
from edge.errors import ConfigError, UnsupportedError
from edge.formats import TARGETS, Precision
from targets.formats import PRECISIONS, target_spec

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO_ROOT / "models" / "default" / "ehanet_mbv2_celebamask_lfw_256.pt"
DEFAULT_CONFIG = REPO_ROOT / "configs" / "deploy" / "default.yaml"
TRAIN_DEFAULT_COMMAND = "make default-student"


# Which precisions ``edgeparse deploy --target X`` builds by default: one field per target of the format
# table, every precision it has (cpu bf16 is skipped at run time on CPUs without native bf16).
TargetPrecisions = make_dataclass(
    "TargetPrecisions", [(t, tuple[Precision, ...], field(default=target_spec(t).precisions)) for t in TARGETS],
    frozen=True, namespace={"of": lambda self, target: getattr(self, target)})


@dataclass(frozen=True)
class PrecisionThresholds:
    fp32: ParityThresholds = field(default_factory=lambda: ParityThresholds(0.1, 0.5, 99.9, 0.01))
    fp16: ParityThresholds = field(default_factory=lambda: ParityThresholds(0.3, 1.0, 99.5))
    bf16: ParityThresholds = field(default_factory=lambda: ParityThresholds(0.5, 2.0, 99.0))
    int8: ParityThresholds = field(default_factory=lambda: ParityThresholds(1.0, 3.0, 98.0))

    def of(self, precision: str) -> ParityThresholds:
        return getattr(self, precision)


@dataclass(frozen=True)
class BenchCfg:
    warmup: int = 20
    runs: int = 200
    threads: int = 2
    mode: Literal["latency", "throughput"] = "latency"
    e2e_size: tuple[int, int] = (480, 640)  # camera frame (H, W) for the end-to-end timing


@dataclass(frozen=True)
class FlickerCfg:
    """The flicker gate (``edge.video.flicker_gate``): each bundle parses the demo clip (public-domain
    portraits with a smooth synthetic camera) as ``edgeparse demo`` does, and its raw and smoothed flicker
    may exceed the FP32 reference's (onnxruntime on the FP32 ONNX, same frames, same crops) by at most
    ``max_increase_pts`` percentage points of the static face pixels.

    0.3 points. Measured with the default student on this clip (raw/smoothed %): the FP32 reference 2.01/1.19,
    OpenVINO fp32 2.01/1.19 (Δ 0.00: an exact conversion adds nothing), bf16 2.03/1.20, INT8 2.15/1.25 (+0.14
    raw), LiteRT INT8 2.13/1.22. The demo's smoothing removes 0.82 points here (2.01 → 1.19); a precision may
    give back at most about a third of that. The INT8 regression the speed issue measured on another clip
    (3.86 → 4.54 % raw, +0.68) fails it."""

    enabled: bool = True
    max_increase_pts: float = 0.3
    frames: int = 0  # the clip's first N frames; 0 = all of them


@dataclass(frozen=True)
class Int8Cfg:
    """Where INT8 comes from.

    ``source`` (cpu): ``nncf`` = NNCF PTQ on the FP32 IR; ``qdq`` = the QDQ ONNX of
    ``edgeparse quantize ptq|qat`` at ``qdq_onnx``; ``auto`` = ``qdq`` when ``qdq_onnx`` is set.
    ``mobile_source`` (mobile): ``aeq`` = ai-edge-quantizer static int8 calibrated on the FP32
    flatbuffer; ``pt2e`` = PT2E PTQ in torch with ``observer``, converted by litert-torch, or the
    quantized checkpoint ``litert_checkpoint`` (``edgeparse quantize ... family=litert``, e.g. QAT);
    ``auto`` = ``pt2e`` when ``litert_checkpoint`` is set, else ``aeq``.
    ``fallback_max_float_layers``: when an int8 bundle fails its per-class gate, deploy rebuilds it
    with up to this many of the most int8-sensitive layers float (``targets.fallback``); 0 = off.
    ``float_logits`` (cpu NNCF): keep the logits convolution float from the start. Off by default: on the
    102 real val faces quantizing it cost 0.02 mIoU and saved 8-13 % of the student's INT8 time, and a
    bundle whose thin classes it hurts fails its per-class gate and takes the fallback.
    """

    source: Literal["auto", "nncf", "qdq"] = "auto"
    qdq_onnx: str | None = None
    litert_checkpoint: str | None = None
    observer: Literal["minmax", "histogram", "percentile"] = "histogram"
    mobile_source: Literal["auto", "aeq", "pt2e"] = "auto"
    float_logits: bool = False  # cpu NNCF PTQ: keep the convolution that produces the logits in float
    fallback_max_float_layers: int = 4

    def cpu_source(self) -> str:
        if self.source == "qdq" and not self.qdq_onnx:
            raise ConfigError("int8.source=qdq needs int8.qdq_onnx=PATH (the model_int8_qdq.onnx written by "
                              "`edgeparse quantize ptq|qat`)")
        if self.source == "nncf" and self.qdq_onnx:
            raise ConfigError("int8.qdq_onnx is set but int8.source=nncf would ignore it; drop one of them")
        return "qdq" if self.qdq_onnx else "nncf"

    def mobile_int8_source(self) -> str:
        if self.mobile_source == "aeq" and self.litert_checkpoint:
            raise ConfigError("int8.litert_checkpoint is a PT2E graph but int8.mobile_source=aeq would ignore it; "
                              "use int8.mobile_source=pt2e (or auto), or drop the checkpoint")
        if self.mobile_source == "auto":
            return "pt2e" if self.litert_checkpoint else "aeq"
        return self.mobile_source


@dataclass(frozen=True)
class DeployDataCfg:
    """Validation and calibration images. ``format: null`` = the checkpoint's own training data
    (for synthetic data the validation split is the recipe's val split, seed + 1; for a real
    dataset absent here, views of public-domain portraits: ``targets.validation.open_sources``)."""

    format: str | None = None
    root: str | None = None
    schema: str | None = None  # label schema of a data.format=folder dataset
    val_split: str = "val"
    calib_split: str = "train"


@dataclass(frozen=True)
class DeployCfg:
    input_size: int = 256
    validation_images: int = 32
    calibration_images: int = 64
    precisions: TargetPrecisions = field(default_factory=TargetPrecisions)
    thresholds: PrecisionThresholds = field(default_factory=PrecisionThresholds)
    bench: BenchCfg = field(default_factory=BenchCfg)
    int8: Int8Cfg = field(default_factory=Int8Cfg)
    data: DeployDataCfg = field(default_factory=DeployDataCfg)
    flicker: FlickerCfg = field(default_factory=FlickerCfg)
    out_dir: str = "bundles"

    def __post_init__(self) -> None:
        check_input_size(self.input_size)
        if self.validation_images < 1 or self.calibration_images < 1:
            raise ConfigError("validation_images and calibration_images must be >= 1")
        if self.flicker.max_increase_pts < 0 or self.flicker.frames < 0:
            raise ConfigError("flicker needs max_increase_pts >= 0 (points of flicker over the FP32 reference) "
                              "and frames >= 0 (0 = the whole clip)")
        if self.int8.fallback_max_float_layers < 0:
            raise ConfigError("int8.fallback_max_float_layers must be >= 0 (0 turns the fallback off)")
        if self.bench.runs < 1 or self.bench.warmup < 0 or self.bench.threads < 1:
            raise ConfigError("bench needs runs >= 1, warmup >= 0 and threads >= 1")
        for target in TARGETS:
            unsupported = set(self.precisions.of(target)) - set(target_spec(target).precisions)
            if unsupported:
                raise UnsupportedError(f"precisions.{target}: {sorted(unsupported)} not supported; "
                                       f"{target} builds {', '.join(target_spec(target).precisions)}")


def load_deploy_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DeployCfg:
    """``DeployCfg`` from a YAML file (None: the built-in defaults) plus dotted overrides."""
    return load_config(DeployCfg, path, overrides)


__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_CONFIG",
    "PRECISIONS",
    "TRAIN_DEFAULT_COMMAND",
    "BenchCfg",
    "DeployCfg",
    "DeployDataCfg",
    "FlickerCfg",
    "Int8Cfg",
    "PrecisionThresholds",
    "TargetPrecisions",
    "load_deploy_config",
]
