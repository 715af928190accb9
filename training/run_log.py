"""Run logging: a CSV of scalars plus TensorBoard events, written by the main process only.

A run that resumes from a checkpoint at step S continues its logs from S: rows and events logged after
the checkpoint (by the run that was interrupted) are dropped, so no step appears twice. A run that starts
over begins with empty logs.
"""
from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

from edge.io import atomic_write_text

log = logging.getLogger(__name__)
TB_DIR = "tb"


class RunLog:
    """Appends scalar rows to ``<run>/<name>.csv`` and mirrors them to TensorBoard. ``start_step`` is the
    step the run continues from (0: a fresh run); what the folder holds after it is dropped."""

    def __init__(self, run_dir: Path, enabled: bool = True, start_step: int = 0):
        self.run_dir, self.enabled = run_dir, enabled
        self._writer = None
        if not enabled:
            return
        for path in sorted(run_dir.glob("*.csv")):
            _truncate_csv(path, start_step)
        if start_step == 0 and (run_dir / TB_DIR).is_dir():
            shutil.rmtree(run_dir / TB_DIR)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is in the `train` extra; CSV still works
            log.warning("tensorboard is not installed: logging to CSV only")
        else:
            # purge_step hides the interrupted run's events from start_step + 1 on
            self._writer = SummaryWriter(str(run_dir / TB_DIR), purge_step=start_step + 1 if start_step else None)

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


def _truncate_csv(path: Path, start_step: int) -> None:
    """Keep the rows of a RunLog CSV up to ``start_step`` (none: the file goes); other CSVs are left alone."""
    lines = path.read_text().splitlines(keepends=True)
    if not lines or not lines[0].startswith("step,"):
        return
    kept = [line for line in lines[1:] if _step(line) is not None and _step(line) <= start_step]
    if not kept:
        path.unlink()
    elif len(kept) < len(lines) - 1:
        atomic_write_text(path, "".join([lines[0], *kept]))
        log.info("%s: dropped %d rows logged after step %d (the run resumes there)", path,
                 len(lines) - 1 - len(kept), start_step)


def _step(line: str) -> int | None:
    """The step of a complete CSV row; None for a row a kill cut short (no newline, no step)."""
    step = line.split(",", 1)[0]
    return int(step) if line.endswith("\n") and step.isdigit() else None
