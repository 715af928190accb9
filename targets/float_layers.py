"""Layer names across the toolchain, and keeping named layers float in a QDQ ONNX.

The sensitivity analysis (``quantize.sensitivity``) names layers by torch module path
(``backbone.features.3.conv.1.0``). Each backend names the same convolution differently:

* the FP32 ONNX (legacy exporter, ``targets.export``) names a node by the modules it was called
  in: ``/backbone/features.3/conv/conv.1/conv.1.0/Conv``. Each scope is a module's path from its
  last non-numeric atom on (``torch.onnx.utils._unqualified_variable_name``), and only modules
  whose ``forward`` ran appear (``backbone.features``, a list iterated by its parent, does not).
  ``onnx_nodes_for`` inverts that rule: a node belongs to the one module whose ancestors'
  unqualified names contain the node's scopes in order, ending with the module itself.
* OpenVINO keeps the ONNX node name as the friendly name of the op it converts to (a Conv with a
  bias becomes ``<name>/WithoutBiases`` + an Add named ``<name>``), which NNCF's ``IgnoredScope``
  takes: ``openvino_names``.
* the QDQ ONNX of ``quantize.export_qdq`` (dynamo exporter, onnxslim) names nodes ``node_conv2d_7``,
  but a convolution's bias initializer keeps its module path: ``<module>.bias``, or
  ``<module>.weight_bias`` where a BatchNorm was folded in (``qdq_nodes_for``).
* LiteRT's flatbuffer: see ``targets.litert``.

``keep_float`` drops the Q/DQ pairs in front of named nodes of a QDQ ONNX: their activation input
becomes the float tensor the QuantizeLinear read, and an int8 weight behind a DequantizeLinear
becomes the float initializer it dequantizes to (the weights keep their int8 rounding, the
activations and the arithmetic are float). TensorRT then runs those layers in float.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ExportError

log = logging.getLogger(__name__)

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
WITHOUT_BIASES = "/WithoutBiases"  # OpenVINO splits an ONNX Conv with a bias into <name>/WithoutBiases + Add


def unqualified(module_path: str) -> str:
    """The legacy ONNX exporter's scope name of a module: its path from the last non-numeric atom on."""
    atoms = module_path.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return module_path


def _scopes(node_name: str) -> list[str]:
    """``/backbone/features.1/conv/conv.0/conv.0.0/Conv`` -> its module scopes (the op's part dropped)."""
    return [part for part in node_name.split("/")[:-1] if part]


def is_call_chain(scopes: Sequence[str], chain: Sequence[str]) -> bool:
    """True when ``scopes`` (the modules a node ran in, outermost first) are a subsequence of ``chain``
    (the names of a module's ancestors, itself last) that ends with the module itself. Exporters record
    only the modules whose ``forward`` ran, so ancestors may be missing, never added or reordered."""
    if not scopes or not chain or scopes[-1] != chain[-1]:
        return False
    remaining = iter(chain)
    return all(any(scope == name for name in remaining) for scope in scopes)


def closest(candidates: Iterable[tuple[str, Sequence[Sequence[str]]]], chain: Sequence[str]) -> list[str]:
    """The keys of ``candidates`` (key, the scope lists it carries) whose matching scope list is the longest.
    Where an exporter skipped modules, a short list (``backbone/ConvBNReLU_0/Conv2d_0``, the stem) also fits
    a deeper module's chain (``backbone/features/InvertedResidual_2/.../ConvBNReLU_0/Conv2d_0``)."""
    best, keys = 0, []
    for key, scope_lists in candidates:
        length = max((len(scopes) for scopes in scope_lists if is_call_chain(scopes, chain)), default=0)
        if length and length == best:
            keys.append(key)
        elif length > best:
            best, keys = length, [key]
    return keys


def _onnx_chain(module_path: str) -> list[str]:
    atoms = module_path.split(".")
    return [unqualified(".".join(atoms[:i])) for i in range(1, len(atoms) + 1)]


def onnx_nodes_for(nodes: Iterable[Any], module_paths: Sequence[str]) -> dict[str, str]:
    """Module path -> the compute node (Conv, Gemm...) of the legacy-exported ONNX it became.

    ``ExportError`` when a module matches no node or two modules claim the same node (the
    exporter's names cannot tell them apart, so keeping one float could keep the wrong one)."""
    compute = [(n.name, [_scopes(n.name)]) for n in nodes if n.op_type in COMPUTE_OPS]
    found: dict[str, str] = {}
    for path in module_paths:
        matches = closest(compute, _onnx_chain(path))
        if len(matches) != 1:
            what = "no node" if not matches else f"{len(matches)} nodes ({', '.join(matches[:3])})"
            raise ExportError(f"layer {path!r} matches {what} of the FP32 ONNX by its exporter scope; it cannot "
                              f"be kept float by name")
        found[path] = matches[0]
    claimed = [node for node in found.values() if list(found.values()).count(node) > 1]
    if claimed:
        raise ExportError(f"layers {[p for p, n in found.items() if n in claimed]} all match node {claimed[0]}")
    return found


BIAS_SUFFIXES = (".weight_bias", ".bias")  # a QDQ ONNX conv's bias: <module>.weight_bias (BN folded) or <module>.bias


def qdq_nodes_for(nodes: Iterable[Any], module_paths: Sequence[str]) -> dict[str, str]:
    """Module path -> the compute node of a QDQ ONNX from ``quantize.export_qdq``, by its bias's name."""
    owners: dict[str, str] = {}
    for node in nodes:
        if node.op_type in COMPUTE_OPS and len(node.input) > 2:
            for suffix in BIAS_SUFFIXES:
                if node.input[2].endswith(suffix):
                    owners.setdefault(node.input[2].removesuffix(suffix), node.name)
                    break
    missing = [path for path in module_paths if path not in owners]
    if missing:
        raise ExportError(f"layers {missing} have no node in the QDQ ONNX (found by their bias name, "
                          f"<module>.bias or <module>.weight_bias); they cannot be kept float by name")
    return {path: owners[path] for path in module_paths}


def keep_float_in_file(path: Path, module_paths: Sequence[str]) -> dict[str, Any]:
    """Rewrite the QDQ ONNX at ``path`` with ``module_paths`` float; returns what the manifest records."""
    import onnx

    model = onnx.load(str(path))
    nodes = qdq_nodes_for(model.graph.node, module_paths)
    model, inputs = keep_float(model, list(nodes.values()))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return {"float_layers": list(nodes.values()), "float_inputs": inputs,
            "float_route": "Q/DQ pairs in front of the layers dropped from the QDQ ONNX"}


def module_for_node(node_name: str, module_paths: Sequence[str]) -> str | None:
    """The one module path (among ``module_paths``) whose compute node is ``node_name``; None otherwise."""
    owners = [path for path in module_paths if is_call_chain(_scopes(node_name), _onnx_chain(path))]
    return owners[0] if len(owners) == 1 else None


def compute_modules(model: Any) -> list[str]:
    """Module paths of a torch model's convolutions and linear layers (what sensitivity ranks)."""
    from torch import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def openvino_names(model: Any, onnx_names: Iterable[str]) -> list[str]:
    """The friendly names of the OpenVINO ops that ``onnx_names`` (FP32 ONNX compute nodes) became:
    the (Group)Convolution / MatMul itself, ``<name>`` or ``<name>/WithoutBiases`` (a bias moves to an Add)."""
    kinds = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"}
    ops = {op.get_friendly_name() for op in model.get_ops() if op.get_type_name() in kinds}
    names = []
    for onnx_name in onnx_names:
        candidates = [n for n in (onnx_name, onnx_name + WITHOUT_BIASES) if n in ops]
        if len(candidates) != 1:
            raise ExportError(f"ONNX node {onnx_name!r} has {len(candidates)} matching compute ops in the OpenVINO "
                              f"model; NNCF cannot keep it float by name")
        names.append(candidates[0])
    return names


def _dequantized(dq: Any) -> np.ndarray:
    """The float32 values a DequantizeLinear of a constant int8 tensor produces."""
    q, scale = (np.asarray(t.values) for t in dq.inputs[:2])
    zero = np.asarray(dq.inputs[2].values) if len(dq.inputs) > 2 else np.zeros_like(scale)
    if scale.ndim == 1 and scale.size > 1:  # per-channel along ``axis``
        shape = [1] * q.ndim
        shape[dq.attrs.get("axis", 1)] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)


def keep_float(model: Any, node_names: Sequence[str]) -> tuple[Any, int]:
    """``model`` (an ``onnx.ModelProto`` with Q/DQ) with the Q/DQ pairs in front of ``node_names`` dropped;
    returns the new model and how many inputs became float. Q/DQ pairs other nodes still read stay."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    by_name = {node.name: node for node in graph.nodes}
    missing = [name for name in node_names if name not in by_name]
    if missing:
        raise ExportError(f"no nodes {missing} in the QDQ ONNX; cannot keep them float")
    changed = 0
    for name in node_names:
        node = by_name[name]
        for i, tensor in enumerate(list(node.inputs)):
            dq = tensor.inputs[0] if tensor.inputs else None
            if dq is None or dq.op != "DequantizeLinear":
                continue
            source = dq.inputs[0]
            quantize = source.inputs[0] if source.inputs else None
            if quantize is not None and quantize.op == "QuantizeLinear":
                node.inputs[i] = quantize.inputs[0]  # the float activation the pair rounded
            elif isinstance(source, gs.Constant):
                node.inputs[i] = gs.Constant(f"{source.name}_float", _dequantized(dq))
            else:
                continue
            changed += 1
    if changed == 0:
        raise ExportError(f"nodes {list(node_names)} read no Q/DQ pair: they are float already")
    graph.cleanup().toposort()
    log.info("kept %d node(s) float: %d Q/DQ input(s) dropped", len(node_names), changed)
    edited = gs.export_onnx(graph)
    edited.ir_version = model.ir_version  # the runtimes that read the original read this one
    return edited, changed
