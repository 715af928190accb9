"""The runner interface every inference backend implements (Polygraphy's BaseRunner style).

A runner is a context manager. It runs a model with any number of named inputs and outputs:
``run({name: array})`` returns ``{name: array}``, and ``infer(x)`` is the short form for a
model with one input and one output (a segmentation bundle, ``edge.backends.open_runner``).
The public methods check the runner's state and every input tensor, then call the backend's
``_*_impl`` overrides, so every backend rejects a wrong name, shape or dtype with the same message
and reports ``last_latency_ms`` the same way.

The caller declares the tensors it feeds (``inputs``) and, optionally, the outputs it reads with
their shapes (``outputs``: a segmentation bundle declares its one (1, C, H, W) logits tensor, and a
declared shape is checked on every run). Left out, inputs and outputs are the model's own. A declared
4-D tensor may be the NCHW view of an NHWC tensor of the model (TF-converted ``.tflite`` files):
the runner transposes it on the way in or out.
"""
from __future__ import annotations

import abc
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np

from edge.errors import BundleError, ConfigError, InputError, NonFiniteOutputError, UnsupportedError
from edge.profile import LayerTime, Profile

if TYPE_CHECKING:
    from typing import Self  # Python >= 3.11; annotations are strings here

Mode = Literal["latency", "throughput"]
MODES: tuple[str, ...] = ("latency", "throughput")
NCHW_FROM_NHWC = (0, 3, 1, 2)
NHWC_FROM_NCHW = (0, 2, 3, 1)


@dataclass(frozen=True)
class TensorSpec:
    """One graph tensor as the caller sees it: name, static shape (None: any size), NumPy dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def matches(self, array: np.ndarray) -> bool:
        return array.dtype == np.dtype(self.dtype) and array.ndim == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, array.shape))

    def describe(self) -> str:
        return f"{self.dtype}{['?' if d is None else d for d in self.shape]}"


@dataclass(frozen=True)
class Binding:
    """A caller's tensor and the model's tensor it is fed to or read from."""

    caller: TensorSpec
    model: str  # the tensor's name in the backend
    transpose: tuple[int, ...] | None  # caller layout -> model layout (inputs) / model -> caller (outputs)


class Runner(Protocol):
    """What parity checks and benchmarks need from a backend."""

    backend: str
    input_specs: tuple[TensorSpec, ...]
    last_latency_ms: float | None

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def input_spec(self) -> TensorSpec: ...

    def run(self, feeds: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]: ...

    def infer(self, x: np.ndarray) -> np.ndarray: ...

    def applied_settings(self) -> dict[str, Any]: ...


class BaseRunner(abc.ABC):
    """Shared state handling and I/O binding; subclasses implement the ``_*_impl`` methods.

    Backends with an asynchronous API set ``supports_async`` and implement ``_run_async_impl``.
    Outputs come back as float32 (integer-quantized tensors dequantized, half tensors widened).

    ``inference_precision`` (the bundle manifest's) is the arithmetic precision the backend must
    apply. Backends that can pin one list it in ``inference_precisions`` and read the applied value
    back in ``_inference_precision_impl``; ``activate`` refuses a model that runs at another
    precision, and every other backend refuses the request instead of ignoring it.

    ``profiling=True`` turns on the backend's per-layer counters (they cost a little time, so a
    benchmark runs without them); backends that have such counters set ``supports_profiling`` and
    implement ``_collect_profile_run``/``_profile_layers``, the others say why they cannot.

    Tensors are matched by name. ``renames_tensors`` marks backends whose converters rename a sole
    input or output (LiteRT: ``serving_default_args_0``); there a model's only input (output) is the
    caller's only one whatever its name.
    """

    backend: ClassVar[str] = ""
    supports_async: ClassVar[bool] = False
    inference_precisions: ClassVar[tuple[str, ...]] = ()
    supports_profiling: ClassVar[bool] = False
    no_profiler: ClassVar[str] = "it exposes no per-layer counters to Python"
    renames_tensors: ClassVar[bool] = False

    def __init__(self, model_path: str | Path, inputs: TensorSpec | Sequence[TensorSpec] | None = None,
                 threads: int | None = None, mode: str = "latency", inference_precision: str | None = None,
                 profiling: bool = False, outputs: Sequence[TensorSpec | str] | None = None):
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
        self._declared_inputs = (inputs,) if isinstance(inputs, TensorSpec) else \
            None if inputs is None else tuple(inputs)
        self._declared_outputs = None if outputs is None else tuple(
            o if isinstance(o, TensorSpec) else TensorSpec(o, ()) for o in outputs)
        self._shaped_outputs = None if outputs is None else {o.name for o in outputs if isinstance(o, TensorSpec)}
        # Until activation reads the model: what the caller declared (the model's own fill in then).
        self.input_specs: tuple[TensorSpec, ...] = self._declared_inputs or ()
        self.output_names: tuple[str, ...] = tuple(o.name for o in self._declared_outputs or ())
        self._inputs: tuple[Binding, ...] = ()
        self._outputs: tuple[Binding, ...] = ()
        self.threads = threads
        self.mode = mode
        self.inference_precision = inference_precision
        self.profiling = profiling
        self.is_active = False
        self.last_latency_ms: float | None = None

    @property
    def input_spec(self) -> TensorSpec:
        """The one input of a single-input model."""
        if len(self.input_specs) != 1:
            raise UnsupportedError(f"{self.model_path.name} has inputs {[s.name for s in self.input_specs]}, "
                                   f"not one: use input_specs and run({{name: array}})")
        return self.input_specs[0]

    def __enter__(self) -> Self:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.model_path)!r}, threads={self.threads}, "
                f"mode={self.mode!r}, inference_precision={self.inference_precision!r})")

    def activate(self) -> None:
        """Load the model and bind the caller's tensors to it; raises ``BackendUnavailable`` when the
        library is missing and ``BundleError`` when the model's tensors are not the declared ones or
        the backend applied another inference precision than requested."""
        if self.is_active:
            raise RuntimeError(f"{self!r} is already active")
        if not self.model_path.is_file():
            raise BundleError(f"model file {self.model_path} not found")
        self._activate_impl()
        self.is_active = True
        try:
            self._bind()
        except BundleError:
            self.deactivate()
            raise
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

    def run(self, feeds: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch: ``{input name: array}`` (a bare array for a single-input model) ->
        ``{output name: float32 array}``; times the backend's call into ``last_latency_ms``."""
        self._require_active()
        model_feeds = self._model_feeds(feeds)
        start = time.perf_counter()
        out = self._run_impl(model_feeds)
        self.last_latency_ms = (time.perf_counter() - start) * 1e3
        return {b.caller.name: self._caller_output(b, out[b.model]) for b in self._outputs}

    def infer(self, x: np.ndarray) -> np.ndarray:
        """``run`` for a model with one input and one output: the output array."""
        self._require_active()
        if len(self._outputs) != 1:
            raise UnsupportedError(f"{self.model_path.name} has outputs {list(self.output_names)}, not one: "
                                   f"use run(), which returns each by name")
        return self.run(x)[self.output_names[0]]

    def run_async(self, x: Mapping[str, np.ndarray] | np.ndarray, count: int) -> list[float]:
        """Keep the backend's request queue full with ``count`` copies of the feeds ``x``.

        Returns each request's latency in ms (the caller times the whole call for FPS).
        """
        self._require_active()
        feeds = self._model_feeds(x)
        if not self.supports_async:
            raise UnsupportedError(f"backend {self.backend!r} has no asynchronous API")
        if count < 1:
            raise ConfigError(f"count must be >= 1, got {count}")
        return self._run_async_impl(feeds, count)

    def profile(self, x: np.ndarray, runs: int, warmup: int = 5) -> Profile:
        """Per-layer times from the backend's own counters: each layer's median over ``runs``
        inferences of ``x`` after ``warmup`` untimed ones. Needs a runner opened with ``profiling=True``."""
        self._require_active()
        self._model_feeds(x)
        if not self.profiling:
            raise ConfigError(f"{self!r} was opened without profiling=True: its per-layer counters are off")
        if runs < 1 or warmup < 0:
            raise ConfigError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
        for _ in range(warmup):
            self.run(x)
        wall_ms = []
        for _ in range(runs):
            self.run(x)
            wall_ms.append(self.last_latency_ms)
            self._collect_profile_run()
        return Profile(self.backend, runs, statistics.median(wall_ms), tuple(self._profile_layers(runs)))

    def applied_settings(self) -> dict[str, Any]:
        """The settings the backend actually applied (read back where it allows)."""
        self._require_active()
        return {"backend": self.backend, "mode": self.mode, "threads_requested": self.threads,
                "inference_precision_requested": self.inference_precision,
                "inference_precision_applied": self._inference_precision_impl(),
                "model": self.model_path.name,
                "transposed_tensors": [b.caller.name for b in (*self._inputs, *self._outputs) if b.transpose],
                **self._settings_impl()}

    def _require_active(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self!r} is not active: call activate() or use `with runner:`")

    def _bind(self) -> None:
        """Match the declared tensors to the model's (``_model_inputs_impl``/``_model_outputs_impl``)."""
        model_inputs, model_outputs = self._model_inputs_impl(), self._model_outputs_impl()
        inputs = self._match("input", self._declared_inputs or model_inputs, model_inputs)
        if len(inputs) != len(model_inputs):
            fed = {b.model for b in inputs}
            raise BundleError(f"{self.model_path.name}: input(s) {[m.name for m in model_inputs if m.name not in fed]} "
                              f"would get no data; declare every input of the model")
        self._inputs = inputs
        self._outputs = self._match("output", self._declared_outputs or model_outputs, model_outputs)
        self.input_specs = tuple(b.caller for b in self._inputs)
        self.output_names = tuple(b.caller.name for b in self._outputs)

    def _match(self, kind: str, wanted: Sequence[TensorSpec], model: Sequence[TensorSpec]) -> tuple[Binding, ...]:
        by_name = {m.name: m for m in model}
        if self.renames_tensors and len(wanted) == len(model) == 1 and wanted[0].name not in by_name:
            by_name = {wanted[0].name: model[0]}
        missing = [w.name for w in wanted if w.name not in by_name]
        if missing:
            raise BundleError(f"{self.model_path.name}: expected {kind}(s) {missing}, the model has "
                              f"{[m.name for m in model]}")
        bindings = tuple(Binding(w, by_name[w.name].name, self._layout(kind, w, by_name[w.name])) for w in wanted)
        if kind == "input":
            for binding in bindings:
                want = by_name[binding.caller.name].dtype
                if binding.caller.dtype != want:
                    raise BundleError(f"{self.model_path.name}: input {binding.caller.name!r} takes {want}, "
                                      f"not the declared {binding.caller.dtype}")
        return bindings

    def _layout(self, kind: str, caller: TensorSpec, model: TensorSpec) -> tuple[int, ...] | None:
        """The transposition between the caller's and the model's layout of a tensor, if any."""
        if not caller.shape or _same_shape(caller.shape, model.shape):
            return None
        if len(model.shape) == 4 and _same_shape(caller.shape, tuple(model.shape[i] for i in NCHW_FROM_NHWC)):
            return NHWC_FROM_NCHW if kind == "input" else NCHW_FROM_NHWC
        nhwc = " nor its NHWC layout" if len(model.shape) == 4 else ""
        raise BundleError(f"{self.model_path.name}: {kind} {caller.name!r} is {model.describe()} in the model, "
                          f"not the declared {caller.describe()}{nhwc}")

    def _model_feeds(self, feeds: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Checked caller feeds, keyed and laid out as the model wants them."""
        if isinstance(feeds, np.ndarray):
            feeds = {self.input_spec.name: feeds}
        if not isinstance(feeds, Mapping):
            raise InputError(f"expected a numpy array or a mapping of input names to arrays, got "
                             f"{type(feeds).__name__}")
        names = [b.caller.name for b in self._inputs]
        if set(feeds) != set(names):
            raise InputError(f"{self.model_path.name}: expected inputs {names}, got {sorted(feeds)}")
        model_feeds = {}
        for binding in self._inputs:
            x, spec = feeds[binding.caller.name], binding.caller
            if not isinstance(x, np.ndarray):
                raise InputError(f"input {spec.name!r}: expected a numpy array, got {type(x).__name__}")
            if not spec.matches(x):
                raise InputError(f"input {spec.name!r}: expected {spec.describe()}, got {x.dtype}{list(x.shape)}")
            model_feeds[binding.model] = np.ascontiguousarray(x.transpose(binding.transpose)) \
                if binding.transpose else x
        return model_feeds

    def _caller_output(self, binding: Binding, out: np.ndarray) -> np.ndarray:
        if binding.transpose:
            out = out.transpose(binding.transpose)
        out = np.ascontiguousarray(out, dtype=np.float32)
        spec = binding.caller
        if spec.name in (self._shaped_outputs or ()) and not spec.matches(out):
            raise BundleError(f"{self.model_path.name}: output {spec.name!r} is {out.dtype}{list(out.shape)}, "
                              f"expected {spec.describe()}")
        if not np.isfinite(out.sum()):  # one cheap pass; a NaN or Inf anywhere makes the sum non-finite
            bad = int(np.count_nonzero(~np.isfinite(out)))
            if bad:
                raise NonFiniteOutputError(
                    f"{self.model_path.name}: output {spec.name!r} holds {bad} NaN/Inf values of {out.size}: "
                    f"the model computes garbage on this backend; check it with `edgeparse validate`", out)
        return out

    @abc.abstractmethod
    def _activate_impl(self) -> None:
        """Load the model and create the session/compiled model/interpreter."""

    @abc.abstractmethod
    def _model_inputs_impl(self) -> list[TensorSpec]:
        """The loaded model's inputs as this runner accepts them: name, shape in the model's layout
        (None for a free dimension) and the dtype fed to ``run`` (float32 where the runner quantizes)."""

    @abc.abstractmethod
    def _model_outputs_impl(self) -> list[TensorSpec]:
        """The loaded model's outputs: name and shape in the model's layout."""

    @abc.abstractmethod
    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run checked ``feeds`` (keyed by the model's input names) and return at least the bound
        outputs by model name, copied out of backend buffers."""

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

    def _run_async_impl(self, feeds: dict[str, np.ndarray], count: int) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} sets supports_async but lacks _run_async_impl")


def _same_shape(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
