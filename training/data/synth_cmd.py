"""``edgeparse data synth --out OUT``: write synthetic face-parsing samples to disk.

Writes ``OUT/{i}.jpg`` (RGB image) and ``OUT/{i}.png`` (uint8 label ids of the chosen
schema); ``--grid`` adds ``OUT/preview.png`` with each image beside its colourised label.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge.errors import ConfigError, DataError
from training.data.synthetic import SyntheticFaces

GRID_NAME = "preview.png"
GRID_COLUMNS = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--schema", default="lapa", help="label schema: celebamask_hq, lapa or helen")
    parser.add_argument("--count", type=int, default=16, help="number of samples")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="sample i depends only on (seed, i)")
    parser.add_argument("--grid", action="store_true", help=f"also write OUT/{GRID_NAME}")


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ConfigError(f"--count must be at least 1, got {args.count}")
    faces = SyntheticFaces(args.schema, size=args.size, length=args.count, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    tiles = []
    for i in tqdm(range(args.count), desc="synth", unit="img", disable=args.count < 64):
        sample = faces[i]
        _write(args.out / f"{i}.jpg", sample.image[..., ::-1])
        _write(args.out / f"{i}.png", sample.label)
        if args.grid:
            tiles.append(np.hstack([sample.image, faces.schema.colorize(sample.label)]))
    print(f"wrote {args.count} {faces.schema.name} samples ({args.size}x{args.size}) to {args.out}")
    if args.grid:
        _write(args.out / GRID_NAME, _tile(tiles, GRID_COLUMNS)[..., ::-1])
        print(f"preview: {args.out / GRID_NAME}")
    return 0


def _tile(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Lay tiles out row-major; a short last row is padded with black."""
    columns = min(columns, len(tiles))
    blank = np.zeros_like(tiles[0])
    padded = tiles + [blank] * (-len(tiles) % columns)
    return np.vstack([np.hstack(padded[r:r + columns]) for r in range(0, len(padded), columns)])


def _write(path: Path, array: np.ndarray) -> None:
    if not cv2.imwrite(str(path), array):
        raise DataError(f"{path}: could not write the file (check the folder is writable)")
