"""Post-training quantization: the fast path and the baseline QAT must beat."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.fx import GraphModule
from tqdm import tqdm

from edge.errors import DataError, InputError
from quantize.config import QuantCfg
from quantize.graph import QuantizedModel, convert, prepare, snapshot

log = logging.getLogger(__name__)


def calibrate(prepared: GraphModule, batches: Iterable[torch.Tensor], max_images: int, input_size: int) -> int:
    """Feed up to ``max_images`` images at the deployment resolution through the observers."""
    seen = 0
    with torch.no_grad(), tqdm(total=max_images, desc="calibrate", unit="img", leave=False) as bar:
        for batch in batches:
            if batch.ndim != 4 or tuple(batch.shape[1:]) != (3, input_size, input_size):
                raise InputError(f"calibration batch has shape {tuple(batch.shape)}; expected (N, 3, "
                                 f"{input_size}, {input_size}): calibrate at the deployment resolution")
            batch = batch[: max_images - seen]
            prepared(batch)
            seen += batch.shape[0]
            bar.update(batch.shape[0])
            if seen >= max_images:
                break
    if seen == 0:
        raise DataError("no calibration images were given; check the dataset split")
    return seen


def ptq(model: nn.Module, calib_batches: Iterable[torch.Tensor], cfg: QuantCfg,
        float_layers: Sequence[str] = ()) -> QuantizedModel:
    """Export ``model``, calibrate on ``cfg.calib_images`` images, convert to the INT8 graph.

    ``calib_batches``: (N, 3, S, S) normalised float batches at ``cfg.input_size`` (pass a list
    to calibrate several candidates on the same images). ``float_layers`` are kept float on top
    of ``cfg.float_layers``.
    """
    layers = tuple(dict.fromkeys((*cfg.float_layers, *float_layers)))
    prepared = prepare(model, cfg, qat=False, float_layers=layers)
    seen = calibrate(prepared, calib_batches, cfg.calib_images, cfg.input_size)
    if seen < cfg.calib_images:
        log.warning("calibrated on %d images, fewer than calib_images=%d", seen, cfg.calib_images)
    state = snapshot(prepared)
    converted = convert(prepared, cfg, layers, qat=False)
    float_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    log.info("PTQ (%s, %s observer) done on %d images; float layers: %s",
             cfg.family, cfg.observer, seen, list(layers) or "none")
    return QuantizedModel(converted, cfg.family, "ptq", cfg.input_size, layers, state, float_state)
