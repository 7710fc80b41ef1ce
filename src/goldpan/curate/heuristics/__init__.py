"""The published heuristic quality rules, one rule set per module."""
