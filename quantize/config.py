"""``QuantCfg``: how a trained FP32 student becomes one INT8 QDQ graph (loaded from configs/quantize/*.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edge.config import apply_overrides, check_input_size, from_dict, load_yaml
from edge.errors import ConfigError
from edge.formats import EXACT_QDQ, QuantizerFamily

# Runners that score a QDQ ONNX: exact QDQ arithmetic (the default), or a runtime's own int8 kernels.
EVAL_BACKENDS = (EXACT_QDQ, "onnxruntime", "openvino")
OBSERVERS = ("minmax", "histogram", "percentile")


@dataclass(frozen=True)
class QatCfg:
    """Quantization-aware fine-tuning (docs/design.md#quantization: ~5-20 % of the epochs at 1/10-1/100 of the base lr)."""

    iters: int = 300  # optimiser steps
    batch_size: int = 8
    lr: float = 1e-4  # AdamW, cosine-decayed to 0 over ``iters``
    weight_decay: float = 0.0
    ce_weight: float = 1.0  # cross-entropy against the labels
    kd_weight: float = 1.0  # pixel KL against the FP32 student (and teachers)
    kd_temperature: float = 2.0
    freeze_bn_after: int = 200  # iteration from which BN uses (and stops updating) running stats
    disable_observers_after: int = 250  # iteration from which activation/weight ranges stop moving
    teachers: tuple[str, ...] = ()  # optional extra KD teachers: checkpoint paths, same label schema
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # where fine-tuning runs; conversion is on CPU


@dataclass(frozen=True)
class MixedPrecisionCfg:
    """Keep the most sensitive layers in float when the INT8 graph misses the parity target."""

    enabled: bool = True
    max_delta_miou_pts: float = 0.5  # parity target: INT8 − FP32 mIoU >= −this, percentage points
    max_float_layers: int = 4  # the search never keeps more than this many layers float
    sensitivity_images: int = 4  # calibration images used to rank layers by SQNR


@dataclass(frozen=True)
class QuantCfg:
    family: QuantizerFamily = "tensorrt"
    method: Literal["ptq", "qat"] = "ptq"
    input_size: int = 256  # deployment resolution: calibrate, fine-tune, export and score here
    calib_images: int = 64  # PTQ calibration images (train split, no augmentation)
    calib_batch_size: int = 8
    observer: Literal["minmax", "histogram", "percentile"] = "histogram"  # PTQ activation observer
    percentile: float = 99.99  # two-sided coverage kept by the ``percentile`` observer
    per_channel: bool = True  # per-output-channel symmetric weights (TensorRT explicit quantization)
    # 7-bit weights [-63, 63]: for x86 CPUs without VNNI, whose int8 kernels saturate on full-range
    # weights (onnxruntime there: PTQ ΔmIoU −2.18 -> −0.55 pts); TensorRT and VNNI CPUs need no reduction.
    reduce_weight_range: bool = False
    float_layers: tuple[str, ...] = ()  # module paths or graph node names kept float on purpose
    val_images: int | None = None  # images scored for the summary and the parity target (None: whole split)
    slim: bool = True  # run onnxslim on the exported QDQ ONNX
    qat: QatCfg = field(default_factory=QatCfg)
    mixed_precision: MixedPrecisionCfg = field(default_factory=MixedPrecisionCfg)

    def __post_init__(self) -> None:
        check_input_size(self.input_size)
        if self.calib_images < 1 or self.calib_batch_size < 1:
            raise ConfigError("calib_images and calib_batch_size must be >= 1")
        if not 50.0 < self.percentile <= 100.0:
            raise ConfigError(f"percentile must be in (50, 100], got {self.percentile}")
        if self.mixed_precision.max_float_layers < 0:
            raise ConfigError("mixed_precision.max_float_layers must be >= 0")


def load_quant_config(path: str | Path | None, overrides: list[str] | None = None,
                      method: str | None = None) -> QuantCfg:
    """Load a ``QuantCfg``; ``method`` (the CLI subcommand) must agree with the file and overrides."""
    data = apply_overrides(load_yaml(path) if path else {}, overrides or [])
    if method is not None:
        if data.get("method", method) != method:
            raise ConfigError(f"the config asks for method={data['method']!r} but the command is "
                              f"`quantize {method}`; run `edgeparse quantize {data['method']}` or drop the key")
        data["method"] = method
    return from_dict(QuantCfg, data)
