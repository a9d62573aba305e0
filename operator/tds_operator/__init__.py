"""Trusted Data Space operator: participant spaces, data contracts, contract-bound training."""

GROUP = "tds.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "tds-operator"
