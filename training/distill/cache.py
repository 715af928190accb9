"""On-disk teacher-output cache: pay a heavy teacher's forward pass once per augmented sample.

Valid because a training sample is a pure function of (seed, epoch, index): the sampler yields
``(index, epoch)`` and augmentation is seeded by ``[seed, epoch, index]``, so a sample seen again
(a resumed run, another student or loss setting on the same data) is the same image. Without
augmentation every epoch sees the same image and the epoch key collapses to 0.

Layout, one folder per teacher (named by the checkpoint's sha256) so ensembles and weights can
change freely::

    <cache_dir>/<sha256[:16]>/manifest.json      what the entries were computed for
    <cache_dir>/<sha256[:16]>/e0003/00000042.npz logits (+ SKD nodes) of sample 42, epoch 3, float16

Entries are written atomically (temp file + rename), so an interrupted run leaves only whole
files and a rerun skips them (resumable). Outputs are rounded through float16 even when computed
fresh, so a run gives the same numbers whether an entry came from disk or not.
"""
from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from edge.errors import ConfigError
from edge.io import atomic_write_text, atomic_write_with
from training.distill.teacher import TeacherOutputs

log = logging.getLogger(__name__)

FORMAT = "edgeparse-teacher-cache"
VERSION = 1


def _as_json(value: Any) -> Any:
    """What ``value`` reads back as from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


class TeacherCache:
    """Teacher outputs per (teacher, epoch key, sample index), with entry hit/write counters.

    ``settings`` describes what the outputs depend on besides the teacher weights (data, seed,
    teacher input size, SKD cell); the student's grids are added on first use. A folder filled
    under other settings is refused rather than silently mixed.
    """

    def __init__(self, root: str | Path, teacher_ids: Sequence[str], settings: dict[str, Any],
                 per_epoch: bool = True):
        self.root = Path(root)
        self.teacher_ids = list(teacher_ids)
        self.settings = {**settings, "per_epoch": per_epoch}
        self.per_epoch = per_epoch
        self.hits = self.writes = 0
        self._bound: dict[str, Any] | None = None

    # ---------------------------------------------------------------- layout
    def entry_path(self, teacher_id: str, index: int, epoch: int) -> Path:
        key = epoch if self.per_epoch else 0
        return self.root / teacher_id[:16] / f"e{key:04d}" / f"{index:08d}.npz"

    def _bind(self, logit_size: Sequence[int], feature_size: Sequence[int] | None) -> None:
        """Write each teacher's manifest, or check that the folder was filled under these settings."""
        settings = _as_json({**self.settings, "logit_size": list(logit_size),
                             "feature_size": None if feature_size is None else list(feature_size)})
        if self._bound is not None:
            if settings != self._bound:
                raise ConfigError(f"teacher cache {self.root}: student grids changed within a run "
                                  f"({self._bound} -> {settings})")
            return
        for teacher_id in self.teacher_ids:
            manifest = {"format": FORMAT, "version": VERSION, "teacher_sha256": teacher_id,
                        "settings": settings}
            path = self.root / teacher_id[:16] / "manifest.json"
            if path.exists():
                self._check_manifest(path, manifest)
            else:
                atomic_write_text(path, json.dumps(manifest, indent=1))
        self._bound = settings

    def _check_manifest(self, path: Path, expected: dict[str, Any]) -> None:
        try:
            found = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"teacher cache manifest {path} is unreadable ({exc}); delete that folder") from exc
        if found.get("format") != FORMAT or found.get("teacher_sha256") != expected["teacher_sha256"]:
            raise ConfigError(f"{path} is not a teacher cache of this teacher checkpoint; delete that folder")
        old, new = found.get("settings", {}), expected["settings"]
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            raise ConfigError(
                f"teacher cache {path.parent} was filled with other settings ({', '.join(changed)} differ); "
                "point distill.cache_dir to another folder or delete this one"
            )

    # ------------------------------------------------------------- entries
    def _read(self, path: Path) -> TeacherOutputs | None:
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                logits = torch.from_numpy(data["logits"])
                nodes = torch.from_numpy(data["nodes"]) if "nodes" in data.files else None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("teacher cache entry %s is unreadable (%s): recomputing it", path, exc)
            return None
        return TeacherOutputs(logits, nodes)

    def _write(self, path: Path, out: TeacherOutputs) -> None:
        arrays = {"logits": out.logits.detach().cpu().half().numpy()}
        if out.nodes is not None:
            arrays["nodes"] = out.nodes.detach().cpu().half().numpy()
        # not fsynced: an entry a power cut loses is recomputed, and an fsync per entry costs more
        atomic_write_with(path, lambda handle: np.savez_compressed(handle, **arrays), durable=False)
        self.writes += 1

    def lookup(self, indices: Tensor, epochs: Tensor, logit_size: Sequence[int],
               feature_size: Sequence[int] | None, compute: Callable[[], list[TeacherOutputs]],
               device: torch.device) -> list[TeacherOutputs]:
        """Teacher outputs for a batch: from disk when every entry exists, else ``compute()``d and stored.

        ``indices`` and ``epochs`` are the batch's sample keys, (N,) integer tensors.
        """
        self._bind(logit_size, feature_size)
        keys = list(zip(indices.tolist(), epochs.tolist()))
        paths = [[self.entry_path(t, i, e) for i, e in keys] for t in self.teacher_ids]
        cached = [[self._read(p) for p in row] for row in paths]
        if all(entry is not None for row in cached for entry in row):
            self.hits += len(keys) * len(self.teacher_ids)
            return [_stack(row, device) for row in cached]
        fresh = compute()
        for row_paths, row_cached, out in zip(paths, cached, fresh):
            for n, (path, entry) in enumerate(zip(row_paths, row_cached)):
                if entry is None:
                    self._write(path, _sample(out, n))
        return [_round_half(out) for out in fresh]


def _sample(out: TeacherOutputs, n: int) -> TeacherOutputs:
    return TeacherOutputs(out.logits[n], None if out.nodes is None else out.nodes[n])


def _stack(entries: Sequence[TeacherOutputs], device: torch.device) -> TeacherOutputs:
    logits = torch.stack([e.logits for e in entries]).to(device).float()
    if any(e.nodes is None for e in entries):
        return TeacherOutputs(logits, None)
    return TeacherOutputs(logits, torch.stack([e.nodes for e in entries]).to(device).float())


def _round_half(out: TeacherOutputs) -> TeacherOutputs:
    return TeacherOutputs(out.logits.half().float(), None if out.nodes is None else out.nodes.half().float())
