"""Teacher → student knowledge distillation (docs/design.md#distillation): losses, frozen teacher ensemble, logit cache.

Importing this package does not import torch (``training.config`` reads ``DistillCfg`` from
``training.distill.config``); the torch modules are imported where they are used.
"""
