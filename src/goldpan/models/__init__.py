"""Loading models and tokenizers: HF folders or ids, GGUF files, embedded package names."""
