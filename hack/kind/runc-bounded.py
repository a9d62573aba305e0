#!/usr/bin/env python3
"""Docker's runtime on hosts whose capability bounding set lacks some capabilities (some sandboxes
drop CAP_SYS_RESOURCE, say): Docker 20.10 asks runc to give a --privileged container (a kind node,
or `docker exec --privileged` in one) every capability the kernel knows, and runc fails with
"unable to apply caps: operation not permitted". This wrapper removes from the container's spec
(create, run) or process (exec) the capabilities this process cannot hold -- no container could
have them anyway -- then runs runc with the same arguments. host.sh starts dockerd with it."""

import json
import os
import sys

# Linux capability numbers 0..40, in order.
NAMES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def bounding_set() -> set[str]:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    return {f"CAP_{name}" for number, name in enumerate(NAMES) if mask >> number & 1}


def bound(path: str, process_only: bool) -> None:
    with open(path) as file:
        spec = json.load(file)
    process = spec if process_only else spec.get("process", {})
    capabilities = process.get("capabilities") or {}
    allowed = bounding_set()
    for kind, names in capabilities.items():
        capabilities[kind] = [name for name in names if name in allowed]
    with open(path, "w") as file:
        json.dump(spec, file)


def value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


args = sys.argv[1:]
if "create" in args or "run" in args:
    bundle = value(args, "--bundle") or value(args, "-b") or "."
    bound(os.path.join(bundle, "config.json"), process_only=False)
elif "exec" in args:
    process = value(args, "--process") or value(args, "-p")
    if process:
        bound(process, process_only=True)
os.execvp("runc", ["runc", *args])
