"""The mixed-precision fallback of ``edgeparse deploy``.

When an int8 bundle fails its per-class parity gate, deploy rebuilds it with the most sensitive
layers kept float and keeps the first variant that passes:

* **which layers**: ``quantize.sensitivity.layer_sensitivity`` calibrated on the deploy run's
  calibration images and scored on the next few training images, which the calibration did not see
  (a range too narrow for new images shows there, never on the calibration images themselves), with
  the quantizer family of the target (one layer in int8 at a time, logits SQNR, lowest first),
  computed once per family and run;
* **how many**: ``quantize.sensitivity.search_float_layers``, the bounded search ``edgeparse
  quantize`` uses (k = 1, 2, 4 ... ``int8.fallback_max_float_layers``; 0 turns the fallback off);
* **how**: each target keeps ``LowerRequest.float_layers`` (torch module paths) float its own way:
  cpu an NNCF ignored scope (or Q/DQ pairs dropped from a QDQ ONNX), mobile an ai-edge-quantizer
  recipe entry that leaves the ops unquantized, jetson Q/DQ pairs dropped from the QDQ ONNX
  (``targets.float_layers`` translates the names).

Every attempt stays in the report; attempts before the kept one are marked superseded (their bundle
folder now holds the kept variant). The manifest of a fallback bundle records the float layers.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edge.formats import INT8, quantizer_family
from edge.io import json_safe
from targets.base import LowerRequest
from targets.config import DeployCfg

if TYPE_CHECKING:
    from quantize.sensitivity import LayerSensitivity

log = logging.getLogger(__name__)

Rankings = dict[str, list["LayerSensitivity"]]  # family -> layers, most sensitive first
SENSITIVITY_IMAGES = 4  # calibration images the one-layer-at-a-time probe runs on


def max_float_layers(cfg: DeployCfg, target: str, precision: str) -> int:
    """The fallback's bound for a job: 0 (no fallback) unless it is an int8 job of a quantizing target."""
    return cfg.int8.fallback_max_float_layers if precision == INT8 and quantizer_family(target) else 0


def search(attempt: Callable[[tuple[str, ...]], bool], rank: Callable[[], Sequence[str]], cfg: DeployCfg,
           target: str, precision: str) -> list[tuple[str, ...]]:
    """Run ``attempt`` on the full int8 build, then on fallbacks until one passes (``attempt`` -> done)."""
    from quantize.sensitivity import search_float_layers

    return search_float_layers(attempt, rank, max_float_layers(cfg, target, precision))


def gate_failed(outcomes: Sequence[Any]) -> bool:
    """True when an attempt's rows (the bundle row and a host-side row) failed the parity gate, the one
    failure more float layers can fix; an export failure or an unavailable backend stops the fallback."""
    return any(o.row.status == "parity_failed" for o in outcomes)


def rank_layers(request: LowerRequest, rankings: Rankings, probe_images: Sequence[Any]) -> list[str]:
    """Module paths, most int8-sensitive first, for ``request``'s target (computed once per family and run),
    scored on ``probe_images`` (normalised (1, 3, S, S) arrays; none: on the calibration images). Layers
    the target keeps float anyway (``kept_float``) are no candidates."""
    from targets import load_target

    family = quantizer_family(request.target)
    if family not in rankings:
        rankings[family] = _sensitivity(request, family, probe_images)
    kept = set(load_target(request.target).kept_float(request))
    ranked = [row.layer for row in rankings[family] if row.layer not in kept]
    log.info("%s int8: most sensitive layers %s", request.target, ranked[:5])
    return ranked


def _sensitivity(request: LowerRequest, family: str, probe_images: Sequence[Any]) -> list[LayerSensitivity]:
    import numpy as np
    import torch

    from quantize.config import MixedPrecisionCfg, QuantCfg
    from quantize.sensitivity import layer_sensitivity

    images = request.calibration()
    cfg = QuantCfg(family=family, input_size=request.input_size, calib_images=len(images),
                   observer=request.cfg.int8.observer,
                   mixed_precision=MixedPrecisionCfg(sensitivity_images=SENSITIVITY_IMAGES))
    batches = [torch.from_numpy(np.ascontiguousarray(image)) for image in images]
    if not probe_images:
        log.warning("%s int8: no training images beyond the calibration set; ranking layers on the calibration "
                    "images, which cannot show a range too narrow for other images", request.target)
    probe = torch.from_numpy(np.concatenate(list(probe_images))) if probe_images else None
    return layer_sensitivity(request.model, batches, cfg, probe_images=probe)


def manifest_entry(rankings: Rankings, target: str, float_layers: tuple[str, ...]) -> dict[str, Any]:
    """``quantization.fallback`` of a fallback bundle's manifest: the layers and their sensitivity."""
    if not float_layers:
        return {}
    scores = {row.layer: row.sqnr_db for row in rankings.get(quantizer_family(target), [])}
    sqnr = json_safe({layer: round(scores.get(layer, math.nan), 2) for layer in float_layers})
    return {"fallback": {"layers": list(float_layers), "logits_sqnr_db_int8": sqnr,
                         "why": "the full int8 build failed its per-class parity gate; these layers, the most "
                                "int8-sensitive by logits SQNR, are kept float"}}
