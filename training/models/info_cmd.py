"""``edgeparse model info NAME``: parameters and MACs of a registered model, per top-level module."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered model name (see `edgeparse model list`)")
    parser.add_argument("--size", type=int, default=512, help="square input size in pixels (default 512)")
    parser.add_argument("--num-classes", type=int, default=19, help="number of output classes (default 19)")
    parser.add_argument(
        "--graph", choices=("deploy", "train"), default="deploy",
        help="count MACs of the exported forward (deploy) or of forward_train with every head (train, "
             "docs/design.md#complexity)",
    )


def run(args: argparse.Namespace) -> int:
    from training.models.complexity import count_macs, count_params
    from training.models.registry import create_model

    model = create_model(args.name, num_classes=args.num_classes)
    params = count_params(model)
    macs = count_macs(model, args.size, graph=args.graph)
    print(f"{args.name}: {args.num_classes} classes, {args.size}x{args.size} input, {args.graph} graph")
    print(f"params  {params.spec / 1e6:9.3f} M  (conv/linear weights+biases, BN affine; "
          f"trainable {params.trainable / 1e6:.3f} M)")
    print(f"MACs    {macs.total:,}  = {macs.gmacs:.3f} GMAC (Conv1d/Conv2d/Linear only; FLOPs ~ 2x)")
    print(f"{'module':<10} {'params (M)':>11} {'GMAC':>9} {'share':>7}")
    modules = list(params.by_module) + [m for m in macs.by_module if m not in params.by_module]
    for module in modules:
        module_macs = macs.by_module.get(module, 0)
        print(f"{module:<10} {params.by_module.get(module, 0) / 1e6:11.3f} {module_macs / 1e9:9.3f} "
              f"{module_macs / max(macs.total, 1):7.1%}")
    return 0
