"""Build a *plumbing* deploy bundle for timing the video demo before a trained student exists.

The model is a registered student (default ``ehanet_mbv2``, 19 CelebAMask-HQ classes) with
**random weights**, exported to ONNX FP32 at the demo's input size. Its masks mean nothing;
its cost is the real student's, so end-to-end vs model-only FPS measured with it holds for
the trained model of the same architecture and size. Torch is used here (build side) only.

    python scripts/demo_plumbing_bundle.py runs/demo/plumbing_bundle --size 256
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def export_onnx(name: str, num_classes: int, size: int, path: Path) -> None:
    import torch

    from training.models.registry import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes).eval()
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamo=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="bundle folder to write")
    parser.add_argument("--model", default="ehanet_mbv2")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from edge.bundle import ValidationSet, write_bundle
    from edge.preprocess import Normalization, normalize, resize_image
    from edge.schemas import get_schema
    from edge.video.clip import clip_frames

    schema = get_schema("celebamask_hq")
    work = Path(tempfile.mkdtemp(prefix="plumbing_"))  # write_bundle copies the files it keeps
    onnx_path = work / f"{args.model}_onnx_fp32.onnx"
    export_onnx(args.model, schema.num_classes, args.size, onnx_path)
    frames = [frame for i, (_, frame) in enumerate(clip_frames()) if i in (35, 50)]
    images = np.stack([resize_image(f, (args.size, args.size)) for f in frames])
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    norm = Normalization()
    logits = np.concatenate([session.run(None, {"input": normalize(im, norm)[None]})[0] for im in images])
    labels = logits.argmax(1).astype(np.uint8)  # no ground truth exists: parity only, vs itself
    checkpoint = work / f"{args.model}_random_init.txt"
    checkpoint.write_text(f"{args.model} with torch.manual_seed(0) random weights (plumbing only)\n")
    write_bundle(args.out, name=f"{args.model}_random", target="onnx", backend="onnxruntime", precision="fp32",
                 schema=schema, normalization=norm, source_checkpoint=checkpoint, artifacts=[onnx_path],
                 validation=ValidationSet.from_reference(images, labels, logits), backend_version=ort.__version__,
                 build_command=f"python scripts/demo_plumbing_bundle.py {args.out} --model {args.model} "
                               f"--size {args.size}",
                 notes="random weights: for timing the demo pipeline, not for accuracy")
    shutil.rmtree(work)
    print(f"wrote {args.out} (random-weight {args.model} at {args.size}x{args.size}; masks are meaningless)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
