"""Steps, the run directory, the ledger, resume, and the executors that run steps."""
