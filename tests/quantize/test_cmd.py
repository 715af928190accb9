"""``edgeparse quantize ptq|qat``: registration, and one end-to-end PTQ run (slow)."""
from __future__ import annotations

import json

import pytest
import torch

from edge.cli import main, parse_args


def test_quantize_commands_are_registered():
    args = parse_args(["quantize", "qat", "c.pt", "qat.iters=2", "--out", "o", "--data", "lapa:/d"])
    assert args.checkpoint == "c.pt" and args.overrides == ["qat.iters=2"]
    assert args.eval_backend == "onnxruntime-qdq" and (args.data.format, str(args.data.root)) == ("lapa", "/d")
    assert parse_args(["quantize", "ptq", "c.pt", "--out", "o"])._run.__module__ == "quantize.ptq_cmd"


@pytest.mark.slow
def test_ptq_command_writes_checkpoint_onnx_and_summary(tmp_path, capsys):
    from edge.config import to_dict
    from edge.schemas import get_schema
    from quantize.checkpoint import load_quantized
    from quantize.qdq_lint import lint_qdq
    from training.checkpoint import save_checkpoint
    from training.config import DataCfg, RecipeCfg
    from training.models import create_model

    torch.manual_seed(0)
    schema = get_schema("lapa")
    model = create_model("ehanet_mbv2", num_classes=schema.num_classes)
    recipe = RecipeCfg(data=DataCfg(format="synthetic", schema="lapa", size=64, synthetic_train=8,
                                    synthetic_val=2, workers=0))
    save_checkpoint({"model_name": "ehanet_mbv2", "model_overrides": {}, "num_classes": schema.num_classes,
                     "schema": schema.to_dict(), "config": to_dict(recipe), "state_dict": model.state_dict()},
                    tmp_path / "best.pt")
    out = tmp_path / "ptq"
    code = main(["quantize", "ptq", str(tmp_path / "best.pt"), "--out", str(out),
                 "--also-score", "onnxruntime", "input_size=64", "calib_images=2", "val_images=2", "mixed_precision.enabled=false"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "PTQ INT8" in printed and "worst ΔF1" in printed and "OK for TensorRT" in printed
    assert "PTQ INT8 onnxruntime" in printed  # the --also-score row
    assert lint_qdq(out / "model_int8_qdq.onnx").ok
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["results"]["rows"]] == ["FP32 torch", "PTQ INT8"]
    assert load_quantized(out / "model_int8.pt").method == "ptq"


def test_every_eval_backend_is_a_registered_runner():
    from edge.backends import BACKENDS
    from quantize.config import EVAL_BACKENDS

    assert set(EVAL_BACKENDS) <= set(BACKENDS)
