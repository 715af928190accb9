"""Run logging: a CSV of scalars plus TensorBoard events, written by the main process only."""
from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)


class RunLog:
    """Appends scalar rows to ``<run>/<name>.csv`` and mirrors them to TensorBoard."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.run_dir, self.enabled = run_dir, enabled
        self._writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is in the `train` extra; CSV still works
                log.warning("tensorboard is not installed: logging to CSV only")
            else:
                self._writer = SummaryWriter(str(run_dir / "tb"))

    def scalars(self, name: str, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        path = self.run_dir / f"{name}.csv"
        row = {"step": step, **{k: round(float(v), 6) for k, v in values.items()}}
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{name}/{key}", float(value), step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
