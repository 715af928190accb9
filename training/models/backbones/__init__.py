"""Backbones: each returns a list of feature maps described by ``feature_info`` (channels, stride)."""
from training.models.backbones.efficientnet_lite import EfficientNetLite
from training.models.backbones.mobilenetv2 import MobileNetV2
from training.models.backbones.resnet import ResNet
from training.models.backbones.weights import find_packaged_weights, load_backbone_weights

__all__ = ["EfficientNetLite", "MobileNetV2", "ResNet", "find_packaged_weights", "load_backbone_weights"]
