"""A small, offline training program for the kind cluster's trainer image: a least-squares fit.

Reads rows of numbers (CSV; the last column is the target, a first line that does not parse is a
header), fits the target as a linear function of the other columns with numpy, and writes the
coefficients to <output>/model.json. The rows come from every CSV file under a directory, or, in
a clean room, from one file of a dataset read through its gateway (`gateway:DATASET/PATH`): the
worker's TDS_DATASET_ENDPOINTS names the gateway's address and the token to present there.
    python3 /opt/train/train.py [SOURCE] [OUTPUT_DIR]      (default: /data /output)
"""

import hashlib
import json
import os
import pathlib
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request

import numpy as np

GATEWAY = "gateway:"
ATTEMPTS = 120
RETRY_SECONDS = 0.5


def parse(name: str, text: str) -> list[list[float]]:
    found = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            found.append([float(x) for x in line.split(",")])
        except ValueError:
            if number == 0:
                continue  # a header
            raise SystemExit(f"{name}:{number + 1}: not a row of numbers: {line!r}") from None
    return found


def through_gateway(source: str) -> str:
    """The text of DATASET/PATH, fetched from the dataset's gateway with the worker's token."""
    dataset, _, path = source[len(GATEWAY) :].partition("/")
    endpoints = json.loads(os.environ.get("TDS_DATASET_ENDPOINTS") or "{}")
    if dataset not in endpoints:
        raise SystemExit(f"no endpoint of dataset {dataset!r} in TDS_DATASET_ENDPOINTS")
    endpoint = endpoints[dataset]
    token = pathlib.Path(endpoint["tokenPath"]).read_text().strip()
    # The gateway's certificate is signed by the operator's own CA, which no worker holds.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://{endpoint['address']}/{path}",
        headers={"Authorization": f"{endpoint['scheme']} {token}"},
    )
    start = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                body = response.read()
            break
        except urllib.error.HTTPError:
            raise  # the gateway answered: no retry changes its mind
        except OSError as error:
            # A new pod's first packets may be dropped until the node's NetworkPolicy engine
            # has its rules: try again for a while.
            if attempt == ATTEMPTS:
                raise
            print(f"attempt {attempt}: {error}", flush=True)
            time.sleep(RETRY_SECONDS)
    took = time.monotonic() - start
    digest = hashlib.sha256(body).hexdigest()
    print(f"read {source}: {len(body)} bytes, sha256 {digest}, attempt {attempt}, {took:.2f}s")
    return body.decode()


def rows(source: str) -> list[list[float]]:
    if source.startswith(GATEWAY):
        return parse(source, through_gateway(source))
    found = []
    for path in sorted(pathlib.Path(source).rglob("*.csv")):
        found += parse(str(path), path.read_text())
    return found


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else "/data"
    output = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "/output")
    table = rows(source)
    if not table:
        raise SystemExit(f"no rows of numbers in {source}")
    matrix = np.array(table)
    features = np.hstack([matrix[:, :-1], np.ones((len(matrix), 1))])
    coefficients, residuals, _, _ = np.linalg.lstsq(features, matrix[:, -1], rcond=None)
    model = {
        "kind": "least-squares",
        "rows": len(matrix),
        "coefficients": [round(float(c), 12) for c in coefficients],
        "residual": float(residuals[0]) if len(residuals) else 0.0,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(f"trained on {len(matrix)} rows: {model['coefficients']}")


if __name__ == "__main__":
    # As a container's PID 1 the program would ignore SIGTERM (the kernel's rule for PID 1 with
    # no handler): a revoked job's worker would run on until the kubelet's SIGKILL, 2 s later at
    # the soonest. It ends at once instead, writing nothing more.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    main()
