"""Torch-free dataset access: the ``Sample`` record, readers per layout, and ``scan``."""

from edge.data.base import SPLITS, FaceParsingReader, Sample, SampleError, check_split
from edge.data.readers import (
    DATASET_FILE,
    HELEN_SPLIT_FILES,
    CelebAMaskHQReader,
    HelenReader,
    LapaReader,
    PreparedReader,
    list_formats,
    open_dataset,
    read_dataset_record,
)
from edge.data.scan import ScanReport, scan

__all__ = [
    "DATASET_FILE",
    "HELEN_SPLIT_FILES",
    "SPLITS",
    "CelebAMaskHQReader",
    "FaceParsingReader",
    "HelenReader",
    "LapaReader",
    "PreparedReader",
    "Sample",
    "SampleError",
    "ScanReport",
    "check_split",
    "list_formats",
    "open_dataset",
    "read_dataset_record",
    "scan",
]
