"""The tamper-evident, hash-chained audit ledger."""
