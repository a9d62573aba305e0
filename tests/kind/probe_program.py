"""The probe run inside a pod (`python3 -c <this file> KIND ARGS...`, in the trainer image): one
network attempt, its outcome on stdout. It imports nothing from the project, only the standard
library the image has.

    tcp HOST PORT              -> open | closed: <why>
    dns SERVER NAME            -> answered | silent: <why>   (one UDP query for an A record)
    fetch URL TOKEN_FILE       -> sha256:<hex> <bytes> | refused: <why>   (HTTPS, bearer token)
    watch URL TOKEN_FILE       -> forever, every 0.1 s: "<start, epoch seconds> ok|refused"
"""

import hashlib
import socket
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request

TIMEOUT = 3.0


def tcp(host: str, port: str) -> str:
    try:
        socket.create_connection((host, int(port)), timeout=TIMEOUT).close()
    except OSError as error:
        return f"closed: {error}"
    return "open"


def dns(server: str, name: str) -> str:
    header = struct.pack(">HHHHHH", 0x7D5, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    query = header + labels + b"\x00" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.sendto(query, (server, 53))
            answer, _ = sock.recvfrom(4096)
        except OSError as error:
            return f"silent: {error}"
    return "answered" if answer[:2] == query[:2] else "silent: another query's answer"


def fetch(url: str, token_file: str, timeout: float = TIMEOUT) -> str:
    with open(token_file) as file:
        token = file.read().strip()
    # The gateway's certificate is the chart's own; what is probed is who may read, not TLS.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read()
    except (OSError, urllib.error.URLError) as error:
        return f"refused: {error}"
    return f"sha256:{hashlib.sha256(body).hexdigest()} {len(body)}"


def watch(url: str, token_file: str) -> str:
    while True:
        start = time.time()
        outcome = fetch(url, token_file, timeout=1.0)
        print(f"{start:.3f} {'ok' if outcome.startswith('sha256:') else 'refused'}", flush=True)
        time.sleep(max(0.0, start + 0.1 - time.time()))


if __name__ == "__main__":
    probes = {"tcp": tcp, "dns": dns, "fetch": fetch, "watch": watch}
    print(probes[sys.argv[1]](*sys.argv[2:]))
