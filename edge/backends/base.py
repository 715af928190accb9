"""The runner interface every inference backend implements (Polygraphy's BaseRunner style).

A runner is a context manager. The public ``activate``/``infer``/``deactivate`` check the
runner's state and the input tensor, then call the backend's ``_*_impl`` overrides, so
every backend rejects a wrong shape or dtype with the same message and reports
``last_latency_ms`` the same way.
"""
from __future__ import annotations

import abc
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np

from edge.errors import BundleError, ConfigError, InputError, UnsupportedError
from edge.profile import LayerTime, Profile

if TYPE_CHECKING:
    from typing import Self  # Python >= 3.11; annotations are strings here

Mode = Literal["latency", "throughput"]
MODES: tuple[str, ...] = ("latency", "throughput")


@dataclass(frozen=True)
class TensorSpec:
    """One graph tensor as the caller sees it: name, static shape, NumPy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


class Runner(Protocol):
    """What parity checks and benchmarks need from a backend."""

    backend: str
    input_spec: TensorSpec
    last_latency_ms: float | None

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def infer(self, x: np.ndarray) -> np.ndarray: ...

    def applied_settings(self) -> dict[str, Any]: ...


class BaseRunner(abc.ABC):
    """Shared state handling; subclasses implement the ``_*_impl`` methods.

    ``infer`` takes one (1, 3, H, W) float32 batch and returns (1, C, H', W') float32 logits.
    Backends with an asynchronous API set ``supports_async`` and implement ``_run_async_impl``.

    ``inference_precision`` (the bundle manifest's) is the arithmetic precision the backend must
    apply. Backends that can pin one list it in ``inference_precisions`` and read the applied value
    back in ``_inference_precision_impl``; ``activate`` refuses a model that runs at another
    precision, and every other backend refuses the request instead of ignoring it.

    ``profiling=True`` turns on the backend's per-layer counters (they cost a little time, so a
    benchmark runs without them); backends that have such counters set ``supports_profiling`` and
    implement ``_collect_profile_run``/``_profile_layers``, the others say why they cannot.
    """

    backend: ClassVar[str] = ""
    supports_async: ClassVar[bool] = False
    inference_precisions: ClassVar[tuple[str, ...]] = ()
    supports_profiling: ClassVar[bool] = False
    no_profiler: ClassVar[str] = "it exposes no per-layer counters to Python"

    def __init__(self, model_path: str | Path, input_spec: TensorSpec, threads: int | None = None,
                 mode: str = "latency", inference_precision: str | None = None, profiling: bool = False):
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1 (or unset for the backend default), got {threads}")
        if mode not in MODES:
            raise ConfigError(f"unknown runner mode {mode!r}; valid modes: {', '.join(MODES)}")
        if inference_precision is not None and inference_precision not in self.inference_precisions:
            can = ", ".join(self.inference_precisions) or "none, it has no such setting"
            raise ConfigError(f"backend {self.backend!r} cannot pin the inference precision "
                              f"{inference_precision!r} (it can pin: {can}); a bundle for it records "
                              f"inference_precision null")
        if profiling and not self.supports_profiling:
            raise UnsupportedError(f"backend {self.backend!r} cannot profile per layer: {self.no_profiler}")
        self.model_path = Path(model_path)
        self.input_spec = input_spec
        self.threads = threads
        self.mode = mode
        self.inference_precision = inference_precision
        self.profiling = profiling
        self.is_active = False
        self.last_latency_ms: float | None = None

    def __enter__(self) -> Self:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.model_path)!r}, threads={self.threads}, "
                f"mode={self.mode!r}, inference_precision={self.inference_precision!r})")

    def activate(self) -> None:
        """Load the model; raises ``BackendUnavailable`` when the library is missing and
        ``BundleError`` when the backend applied another inference precision than requested."""
        if self.is_active:
            raise RuntimeError(f"{self!r} is already active")
        if not self.model_path.is_file():
            raise BundleError(f"model file {self.model_path} not found")
        self._activate_impl()
        self.is_active = True
        applied = self._inference_precision_impl()
        if self.inference_precision is not None and applied != self.inference_precision:
            self.deactivate()
            raise BundleError(f"{self.model_path.name}: {self.backend} applied inference precision "
                              f"{applied!r}, not the requested {self.inference_precision!r}: its numbers "
                              f"would belong to another precision than the bundle's")

    def deactivate(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self!r} is not active")
        self._deactivate_impl()
        self.is_active = False

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Run one batch; times it into ``last_latency_ms``."""
        self._require_active()
        self._check_input(x)
        start = time.perf_counter()
        out = self._infer_impl(x)
        self.last_latency_ms = (time.perf_counter() - start) * 1e3
        return self._check_output(out)

    def run_async(self, x: np.ndarray, count: int) -> list[float]:
        """Keep the backend's request queue full with ``count`` copies of ``x``.

        Returns each request's latency in ms (the caller times the whole call for FPS).
        """
        self._require_active()
        self._check_input(x)
        if not self.supports_async:
            raise UnsupportedError(f"backend {self.backend!r} has no asynchronous API")
        if count < 1:
            raise ConfigError(f"count must be >= 1, got {count}")
        return self._run_async_impl(x, count)

    def profile(self, x: np.ndarray, runs: int, warmup: int = 5) -> Profile:
        """Per-layer times from the backend's own counters: each layer's median over ``runs``
        inferences of ``x`` after ``warmup`` untimed ones. Needs a runner opened with ``profiling=True``."""
        self._require_active()
        self._check_input(x)
        if not self.profiling:
            raise ConfigError(f"{self!r} was opened without profiling=True: its per-layer counters are off")
        if runs < 1 or warmup < 0:
            raise ConfigError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
        for _ in range(warmup):
            self.infer(x)
        wall_ms = []
        for _ in range(runs):
            self.infer(x)
            wall_ms.append(self.last_latency_ms)
            self._collect_profile_run()
        return Profile(self.backend, runs, statistics.median(wall_ms), tuple(self._profile_layers(runs)))

    def applied_settings(self) -> dict[str, Any]:
        """The settings the backend actually applied (read back where it allows)."""
        self._require_active()
        return {"backend": self.backend, "mode": self.mode, "threads_requested": self.threads,
                "inference_precision_requested": self.inference_precision,
                "inference_precision_applied": self._inference_precision_impl(),
                "model": self.model_path.name, **self._settings_impl()}

    def _require_active(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self!r} is not active: call activate() or use `with runner:`")

    def _check_input(self, x: np.ndarray) -> None:
        spec = self.input_spec
        if not isinstance(x, np.ndarray):
            raise InputError(f"input {spec.name!r}: expected a numpy array, got {type(x).__name__}")
        if x.dtype != np.dtype(spec.dtype) or tuple(x.shape) != tuple(spec.shape):
            raise InputError(f"input {spec.name!r}: expected {spec.dtype}{list(spec.shape)}, "
                             f"got {x.dtype}{list(x.shape)}")

    def _check_output(self, out: np.ndarray) -> np.ndarray:
        if out.ndim != 4 or out.shape[0] != 1:
            raise BundleError(f"{self.model_path.name}: expected one (1, C, H, W) logits tensor, "
                              f"got shape {list(out.shape)}")
        return np.ascontiguousarray(out, dtype=np.float32)

    @abc.abstractmethod
    def _activate_impl(self) -> None:
        """Load the model and create the session/compiled model/interpreter."""

    @abc.abstractmethod
    def _infer_impl(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` (already checked) and return NCHW logits (copied out of backend buffers)."""

    @abc.abstractmethod
    def _deactivate_impl(self) -> None:
        """Release the backend objects."""

    def _settings_impl(self) -> dict[str, Any]:
        return {}

    def _collect_profile_run(self) -> None:
        """Read the counters of the inference that just ran (backends that report per inference)."""

    def _profile_layers(self, runs: int) -> list[LayerTime]:
        """Each executed layer's median time over the last ``runs`` inferences."""
        raise NotImplementedError(f"{type(self).__name__} sets supports_profiling but lacks _profile_layers")

    def _inference_precision_impl(self) -> str | None:
        """The inference precision the loaded model runs at, read back from the backend
        (one of ``inference_precisions``); None where the backend has no such setting."""
        return None

    def _run_async_impl(self, x: np.ndarray, count: int) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} sets supports_async but lacks _run_async_impl")
