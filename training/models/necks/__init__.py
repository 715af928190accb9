"""Necks: map a backbone's feature list to one context map."""
from training.models.necks.ehanet_neck import EHANetNeck, SemanticGapBlock, StageAttention

__all__ = ["EHANetNeck", "SemanticGapBlock", "StageAttention"]
