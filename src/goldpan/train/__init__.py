"""The training core every method uses."""
