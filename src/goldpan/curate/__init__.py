"""Text steps: filters, cleaners and deduplication."""
