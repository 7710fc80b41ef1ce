"""Synthetic instruction data: Self-Instruct, Montessori-Instruct."""
