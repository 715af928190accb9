"""The per-family PT2E quantizers: specs, the LiteRT sigmoid fix, exclusions, the percentile observer."""
from __future__ import annotations

import pytest
import torch

from edge.errors import ConfigError, UnknownNameError
from quantize.graph import prepare
from quantize.quantizers import SIGMOID_SCALE, SIGMOID_ZERO_POINT, PercentileObserver, build_quantizer

QUANTIZE_PER_TENSOR = torch.ops.quantized_decomposed.quantize_per_tensor.default


@pytest.mark.parametrize("family", ["tensorrt", "openvino"])
@pytest.mark.parametrize("qat", [False, True])
def test_tensorrt_style_specs_are_symmetric_int8_with_per_channel_axis0_weights(family, qat):
    config = build_quantizer(family, qat=qat, observer="minmax").global_config
    act, weight = config.input_activation, config.weight
    assert (act.dtype, act.qscheme, act.quant_min, act.quant_max) == (torch.int8, torch.per_tensor_symmetric, -128, 127)
    assert (weight.dtype, weight.qscheme, weight.ch_axis) == (torch.int8, torch.per_channel_symmetric, 0)
    assert config.is_qat is qat and config.bias is None


def test_litert_uses_asymmetric_activations_and_per_tensor_weights_on_request():
    config = build_quantizer("litert", qat=False, per_channel=False).global_config
    assert config.input_activation.qscheme == torch.per_tensor_affine
    assert config.weight.qscheme == torch.per_tensor_symmetric
    assert config.is_dynamic is False  # litert_torch's QuantConfig reads it: static quantization


def test_litert_sigmoid_output_is_fixed_at_1_over_256_and_shared_by_its_consumer(tiny_model, calib, make_cfg):
    from quantize.ptq import ptq

    converted = ptq(tiny_model, calib, make_cfg(family="litert")).graph_module
    sigmoid = next(n for n in converted.graph.nodes if n.target == torch.ops.aten.sigmoid.default)
    (quant,) = [u for u in sigmoid.users if u.target == QUANTIZE_PER_TENSOR]
    assert quant.args[1:3] == (SIGMOID_SCALE, SIGMOID_ZERO_POINT) == (1 / 256, -128)
    # The mul reads the sigmoid through that very quantization (no second observer).
    mul = next(n for n in converted.graph.nodes if n.target == torch.ops.aten.mul.Tensor)
    dequants = [a for a in mul.args if a.args[0] is quant]
    assert len(dequants) == 1 and dequants[0].args[1:3] == (1 / 256, -128)


def test_tensorrt_family_keeps_sigmoid_symmetric(tiny_model, calib, make_cfg):
    from quantize.ptq import ptq

    converted = ptq(tiny_model, calib, make_cfg(family="tensorrt")).graph_module
    zero_points = [n.args[2] for n in converted.graph.nodes if n.target == QUANTIZE_PER_TENSOR]
    assert zero_points and set(zero_points) == {0}


def test_unknown_family_and_observer_are_rejected_with_suggestions():
    with pytest.raises(UnknownNameError, match="tensorrt"):
        build_quantizer("tensort", qat=False)
    with pytest.raises(UnknownNameError, match="histogram"):
        build_quantizer("tensorrt", qat=False, observer="histogramm")


def test_unknown_float_layer_fails_naming_close_module(tiny_model, make_cfg):
    with pytest.raises(ConfigError, match=r"'hed'.*Did you mean 'head'"):
        prepare(tiny_model, make_cfg(), qat=False, float_layers=("hed",))


def test_percentile_observer_clips_a_rare_outlier_that_minmax_keeps():
    values = torch.cat([torch.linspace(-1, 1, 100_000), torch.tensor([50.0])])
    percentile = PercentileObserver(percentile=99.9, dtype=torch.int8, qscheme=torch.per_tensor_symmetric,
                                    quant_min=-128, quant_max=127)
    percentile(values)
    scale, zero_point = percentile.calculate_qparams()
    assert int(zero_point) == 0
    assert float(scale) < 2.0 / 127  # range ~[-1, 1], not [-50, 50]
    assert float(scale) > 0.9 / 127


@pytest.mark.slow
def test_litert_quantizer_lowers_to_a_fully_int8_tflite_that_builtin_kernels_run(tiny_model, calib, make_cfg,
                                                                                 tmp_path):
    """The mobile target's route (docs/design.md#litert): without the sigmoid fix LOGISTIC fails to prepare."""
    import numpy as np

    litert_torch = pytest.importorskip("litert_torch")
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    from litert_torch.quantize.quant_config import QuantConfig

    from quantize.ptq import ptq

    quantized = ptq(tiny_model, calib, make_cfg(family="litert"))
    x = calib[0][:1]
    config = QuantConfig(pt2e_quantizer=build_quantizer("litert", qat=False))
    litert_torch.convert(quantized.graph_module, (x,), quant_config=config).export(str(tmp_path / "m.tflite"))
    interpreter = interpreter_module.Interpreter(
        str(tmp_path / "m.tflite"),
        experimental_op_resolver_type=interpreter_module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    assert {d["dtype"] for d in interpreter.get_tensor_details()} <= {np.int8, np.int32}
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    in_scale, in_zero = inp["quantization"]
    interpreter.set_tensor(inp["index"], np.clip(np.round(x.numpy() / in_scale + in_zero), -128, 127).astype(np.int8))
    interpreter.invoke()
    out_scale, out_zero = out["quantization"]
    logits = (interpreter.get_tensor(out["index"]).astype(np.float32) - out_zero) * out_scale
    expected = quantized(x).detach().numpy()
    assert (logits.argmax(1) == expected.argmax(1)).mean() > 0.97


def test_reduced_weight_range_keeps_int8_weights_within_7_bits(tiny_model, calib, make_cfg):
    """For x86 CPUs without VNNI (int16 saturation in u8 x s8 kernels); still int8 with zero-point 0."""
    from quantize.ptq import ptq

    assert build_quantizer("tensorrt", qat=True, reduce_weight_range=True).global_config.weight.quant_max == 63
    converted = ptq(tiny_model, calib, make_cfg(reduce_weight_range=True)).graph_module
    frozen = [t for t in converted.state_dict().values() if t.dtype == torch.int8]  # folded weights
    assert frozen and all(int(w.abs().max()) <= 63 for w in frozen)
