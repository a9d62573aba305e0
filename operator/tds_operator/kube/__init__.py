"""The only package that talks to the API server: the client (`client.py`) and its verbs
(`reads.py`, `writes.py`), its transport (`transport.py`), the reconcilers' HTTP session
(`session.py`). The rest of the operator imports `Kube` and `KubeError` from here.

- `client.py`: `Kube`, one connection with exactly the requests the operator makes;
  `reads.py` and `writes.py` are its verbs, every write counted in `tds_api_writes_total`.
- `transport.py`: one request as the client's identity, its place among the requests in flight,
  an HTTP error turned into a `KubeError`.
- `session.py`: the reconcilers' own HTTP session, cheaper per request than kr8s's.

The pure comparisons of a desired manifest with a live object are `api/compare.py`.
"""

from tds_operator.kube.client import Kube
from tds_operator.kube.transport import MAX_REQUESTS_IN_FLIGHT, URGENT_REQUESTS, KubeError

__all__ = ["MAX_REQUESTS_IN_FLIGHT", "URGENT_REQUESTS", "Kube", "KubeError"]
