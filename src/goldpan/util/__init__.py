"""Leaf helpers every layer may use: atomic writes and JSON lines."""
