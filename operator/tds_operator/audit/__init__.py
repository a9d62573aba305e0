"""The tamper-evident, hash-chained audit ledger: its chain and events (pure), its storage in
ConfigMaps, the usage read from it. It knows nothing of the command line."""
