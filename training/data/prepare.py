"""Convert a raw dataset into the prepared layout, resumably.

Output: ``DST/{split}_img/{n}.jpg``, ``DST/{split}_label/{n}.png`` and ``DST/dataset.json``
(schema name and per-split counts), readable with ``open_dataset("prepared", DST, split)``.

Every file is written atomically (``edge.io``: a hidden temp file renamed into place),
so a file that exists is complete. A re-run skips samples whose two outputs exist;
``prepare_state.json`` pins the settings so a resumed run cannot mix image sizes.
With ``skip_bad`` a bad raw sample leaves its index unused, so every raw sample keeps
the same output name across re-runs and the numbering still follows g_partition.py.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from tqdm import tqdm

from edge.data.base import SPLITS, SampleError
from edge.data.readers import DATASET_FILE
from edge.errors import ConfigError, DataError, registered_name
from edge.io import PROCESS_START, atomic_write_bytes, atomic_write_text, clean_leftovers
from training.data.prepare_sources import SOURCES, ConvertedSample, PrepareItem, RawSource

log = logging.getLogger(__name__)

STATE_FILE = "prepare_state.json"
_STATE_EVERY = 500  # items between state saves: cheap, and bounds what a crash forgets


@dataclass
class PrepareReport:
    """What one ``prepare_dataset`` call did."""

    dst: Path
    schema: str
    counts: dict[str, int]  # samples per split in the finished dataset
    converted: int = 0  # written by this run
    reused: int = 0  # already present from an earlier run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def output_paths(dst: Path, item: PrepareItem) -> tuple[Path, Path]:
    return dst / f"{item.split}_img" / f"{item.index}.jpg", dst / f"{item.split}_label" / f"{item.index}.png"


def _load_state(dst: Path, settings: dict) -> dict:
    path = dst / STATE_FILE
    if not path.is_file():
        return {"settings": settings, "complete": False, "converted": 0}
    try:
        state = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: unreadable prepare state ({exc}); delete it to start over") from exc
    if state.get("settings") != settings:
        raise ConfigError(
            f"{dst} was prepared with {state.get('settings')}, this run asks for {settings}. "
            "Use the same settings to resume, or a new destination folder"
        )
    return state


def _save_state(dst: Path, state: dict) -> None:
    atomic_write_text(dst / STATE_FILE, json.dumps(state, indent=2))


def _store(dst: Path, item: PrepareItem, sample: ConvertedSample) -> None:
    image_path, label_path = output_paths(dst, item)
    ok, png = cv2.imencode(".png", sample.label)
    if not ok:
        raise DataError(f"OpenCV could not encode the label for {image_path} as PNG")
    # Label first: a sample counts as done only when both files exist.
    # Not fsynced (one per file would dominate): a power cut can lose a sample, which a re-run redoes.
    atomic_write_bytes(label_path, png.tobytes(), durable=False)
    atomic_write_bytes(image_path, sample.image_jpeg, durable=False)


def _converted(
    convert: Callable[[PrepareItem], ConvertedSample], items: list[PrepareItem], workers: int
) -> Generator[tuple[PrepareItem, ConvertedSample | SampleError], None, None]:
    """Yield (item, sample or its SampleError), converting on ``workers`` threads.

    Threads suffice: OpenCV decode, resize and encode release the GIL.
    """

    def attempt(item: PrepareItem) -> tuple[PrepareItem, ConvertedSample | SampleError]:
        try:
            return item, convert(item)
        except SampleError as exc:
            return item, exc

    if workers <= 1:
        yield from map(attempt, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        # A bounded look-ahead keeps memory flat on 30k samples and the output in plan order.
        window = deque(pool.submit(attempt, item) for item in items[: workers * 4])
        for item in items[workers * 4 :]:
            yield window.popleft().result()
            window.append(pool.submit(attempt, item))
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def make_source(name: str, src: str | Path, image_size: int | None) -> RawSource:
    key = registered_name("raw dataset", name, SOURCES)
    if image_size is not None and image_size <= 0:
        raise ConfigError(f"--image-size must be positive, got {image_size}")
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"source folder {src} does not exist")
    return SOURCES[key](src, image_size)


def prepare_dataset(
    name: str,
    src: str | Path,
    dst: str | Path,
    image_size: int | None = None,
    skip_bad: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> PrepareReport:
    """Convert raw dataset ``name`` (``celebamask-hq`` or ``helen``) in ``src`` into ``dst``.

    Raises ``SampleError`` on the first bad raw sample unless ``skip_bad``, in which case
    bad samples are listed in the report and in ``dataset.json``.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    source = make_source(name, src, image_size)
    items = source.plan()
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    state = _load_state(dst, source.settings())
    state["complete"] = False
    for folder in [dst, *(p for p in dst.iterdir() if p.is_dir())]:  # an interrupted run's temporary files
        clean_leftovers(folder, older_than=PROCESS_START)
    for split in SPLITS:
        (dst / f"{split}_img").mkdir(exist_ok=True)
        (dst / f"{split}_label").mkdir(exist_ok=True)

    todo = [item for item in items if not all(p.is_file() for p in output_paths(dst, item))]
    report = PrepareReport(dst, source.schema.name, counts={}, reused=len(items) - len(todo))
    log.info("%d samples planned, %d already present, %d to convert", len(items), report.reused, len(todo))
    bad_items = _run(source.convert, todo, dst, state, report, skip_bad, workers, progress)

    report.counts = {s: sum(i.split == s and i not in bad_items for i in items) for s in SPLITS}
    record = {
        "schema": source.schema.name,
        "splits": report.counts,
        **source.settings(),
        "skipped": [{"file": f, "reason": r} for f, r in report.skipped],
    }
    atomic_write_text(dst / DATASET_FILE, json.dumps(record, indent=2))
    state.update(complete=True, skipped=record["skipped"])
    _save_state(dst, state)
    return report


def _run(
    convert: Callable[[PrepareItem], ConvertedSample],
    todo: list[PrepareItem],
    dst: Path,
    state: dict,
    report: PrepareReport,
    skip_bad: bool,
    workers: int,
    progress: bool,
) -> set[PrepareItem]:
    """Convert and store ``todo``; return the items skipped as bad. State is saved even on interrupt."""
    bad_items = set()
    results = _converted(convert, todo, workers)
    try:
        for item, result in tqdm(results, total=len(todo), desc="prepare", unit="img", disable=not progress):
            if isinstance(result, SampleError):
                if not skip_bad:
                    raise result
                log.warning("skipping bad sample: %s", result)
                report.skipped.append((result.path, result.reason))
                bad_items.add(item)
                continue
            _store(dst, item, result)
            report.converted += 1
            state["converted"] = state.get("converted", 0) + 1
            if report.converted % _STATE_EVERY == 0:
                _save_state(dst, state)
    finally:
        results.close()  # stop the worker threads before the state is written
        _save_state(dst, state)
    return bad_items
