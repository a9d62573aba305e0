"""Trusted Data Space operator: participant spaces, data contracts and contract-bound GPU training."""

GROUP = "tds.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "tds-operator"
