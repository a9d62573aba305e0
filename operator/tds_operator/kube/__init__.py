"""The only package that talks to the API server.

- `client.py`: `Kube`, the verbs the operator uses (get, list, apply, patch, delete, watch...);
  every write counted in `tds_api_writes_total`.
- `session.py`: the reconcilers' own HTTP session, cheaper per request than kr8s's.
"""
