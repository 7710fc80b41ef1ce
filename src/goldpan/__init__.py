"""goldpan: turn raw text into training data for large language models."""

__version__ = "0.1.0"
