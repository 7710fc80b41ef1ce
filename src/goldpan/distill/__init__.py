"""Reasoning distillation from positive and negative rationales (NAT, NCE, ASC)."""
