"""Heads: map backbone features and the neck's context map to predictions."""
from training.models.heads.boundary_head import BoundaryAwareHead, BoundaryBranch

__all__ = ["BoundaryAwareHead", "BoundaryBranch"]
