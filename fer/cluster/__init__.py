"""Work that splits into independent pieces, spread over a Ray cluster: width sweeps (each training
a Ray task, `fer.cluster.sweep`) and a data set's faces explained in shards (`fer.cluster.shards`).

    ray = connect("auto")          # or "HOST:PORT" of `ray start --head`, or "local"

The workers get this package through Ray's runtime environment (`py_modules`), the data and the
models through its object store: no folder is shared. They send results back; only the driver
writes the run store. Ray itself is optional (`requirements-ray.txt`): nothing else in the
workbench imports this package unless a cluster address is given.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from fer.errors import ClusterError, ModelConfigError

RETRIES = 2  # a training whose worker dies is started again this many times before it fails
TOKEN_HINT = ("If the cluster uses token authentication (its head had a token, `ray get-auth-token`), set "
              "RAY_AUTH_MODE=token here, and RAY_AUTH_TOKEN unless ~/.ray/auth_token holds the token")


def check_resources(cpus: float, gpus: float) -> None:
    """Refuse what no Ray task can reserve: no CPU, or a negative GPU count."""
    if not cpus > 0 or not gpus >= 0:
        raise ModelConfigError(f"a training reserves more than 0 CPUs and at least 0 GPUs; got {cpus:g} CPU(s), "
                               f"{gpus:g} GPU(s)")


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a HOST:PORT nobody answers on (Ray itself waits minutes for it)."""
    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach a Ray cluster at {address!r}: {exc.strerror or exc}; start one with "
                           "`ray start --head` and give the address it prints") from None


def connect(address: str):
    """The `ray` module, connected to the cluster at `address` (once per process)."""
    # Ray's crash handler (read when ray is imported) would print a stack trace on the SIGTERM that
    # stops the app's server; the workbench's own stop handling (fer.stopping) ends it instead
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: python -m pip install -r requirements-ray.txt") from None
    if ray.is_initialized():
        return ray
    check_reachable(address)
    package = str(Path(__file__).resolve().parents[1])
    env = {"py_modules": [package], "env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}
    try:
        ray.init(address=address, runtime_env=env, logging_level=logging.ERROR,
                 log_to_driver=False, include_dashboard=False if address == "local" else None)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {first}. {TOKEN_HINT}") from None
    return ray


def lost_work(exc: BaseException) -> str:
    """One line for a Ray task that ended in `exc`: the workbench's own message when it raised one."""
    cause = getattr(exc, "cause", None)  # a RayTaskError carries what the task raised
    if isinstance(cause, BaseException):
        return (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    if type(exc).__name__ in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError"):
        return f"its worker was lost {RETRIES + 1} times ({type(exc).__name__})"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
