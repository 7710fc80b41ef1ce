"""Records: reading inputs into Arrow batches and writing the kept records out."""
