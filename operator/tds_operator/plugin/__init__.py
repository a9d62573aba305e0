"""The operator's tool behind `kubectl tds consent --key` (a consent signed with your own key,
over the terms' digest as the API models normalise them), acting as the caller, and
`python -m tds_operator audit verify`: `python -m tds_operator.plugin`, which the light plugin
(`plugin/`) runs when the operator is installed beside it."""
