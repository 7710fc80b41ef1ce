"""Model-based quality: LM losses in both directions, the reverse-modeling score, selection."""
