"""Read every sample of a split once, to find bad files before a long run does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from tqdm import tqdm

from edge.data.base import FaceParsingReader, Sample, SampleError

log = logging.getLogger(__name__)


@dataclass
class ScanReport:
    """Outcome of ``scan``: indices that read cleanly and (file, reason) for the rest."""

    total: int
    good: list[int] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad


def scan(
    reader: FaceParsingReader,
    skip_bad: bool = False,
    progress: bool = False,
    visit: Callable[[int, Sample], None] | None = None,
) -> ScanReport:
    """Read every sample of ``reader``.

    Without ``skip_bad`` the first bad sample raises its ``SampleError``; with it, bad
    samples are collected in the report and the good indices returned. Files the reader found
    without a partner (``reader.orphans``) are always in ``bad``. ``visit`` is
    called with each good sample (e.g. to gather statistics in the same pass).
    """
    report = ScanReport(total=len(reader), bad=list(reader.orphans))
    desc = f"scan {reader.root.name}/{reader.split}"
    for index in tqdm(range(len(reader)), desc=desc, unit="img", disable=not progress):
        try:
            sample = reader[index]
        except SampleError as exc:
            if not skip_bad:
                raise
            log.warning("skipping bad sample: %s", exc)
            report.bad.append((exc.path, exc.reason))
            continue
        report.good.append(index)
        if visit is not None:
            visit(index, sample)
    return report
