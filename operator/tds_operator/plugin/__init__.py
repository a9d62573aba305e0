"""The operator's tools behind `kubectl tds` (why, audit, consent --key, keys, export), acting
as the caller: `python -m tds_operator.plugin`, which the light plugin (`plugin/`) runs when the
operator is installed beside it."""
