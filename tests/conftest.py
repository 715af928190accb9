"""Suite-wide settings.

One OpenMP thread per process: tests are tiny, and several torch processes (torchrun tests,
data workers) sharing 2 cores with busy-waiting OpenMP pools run 5-50x slower.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
