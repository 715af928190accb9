"""Small building blocks shared by backbones, necks and heads (one module per file).

Graph hygiene (developers' guide, "graph hygiene for exported models"): every resize here is
bilinear with ``align_corners=False``, global pooling is ``x.mean((2, 3), keepdim=True)``, and
there is no AdaptiveAvgPool and no grid_sample, so the exported graphs lower cleanly to
ONNX Runtime, OpenVINO, LiteRT and TensorRT.
"""
from training.models.layers.conv_bn_act import ConvBNReLU
from training.models.layers.padding import SamePad2d
from training.models.layers.pooling import ZeroPadMaxPool2d, global_mean_pool
from training.models.layers.resize import resize_to
from training.models.layers.se_gate import SEGate

__all__ = ["ConvBNReLU", "SEGate", "SamePad2d", "ZeroPadMaxPool2d", "global_mean_pool", "resize_to"]
