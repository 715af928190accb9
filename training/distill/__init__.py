"""Teacher → student knowledge distillation (SPEC §7): losses, frozen teacher ensemble, logit cache.

Importing this package does not import torch (``training.config`` reads ``DistillCfg`` from
``training.distill.config``); the torch modules are imported where they are used.
"""
