"""Faults injected into a studio process (a job's `studio train`), read from ``STUDIO_INJECT_FAULTS``.

Python imports ``sitecustomize`` at start-up from the first folder of ``sys.path`` holding one, so a
test or benchmark that puts this folder on a child's ``PYTHONPATH`` (with the variable set) injects its
fault into that process alone, before the studio's own code runs, with nothing in the studio to switch
it on. ``STUDIO_INJECT_FAULTS`` is a JSON object:

- ``{"save": N, "moment": M, "tell": FIFO, "hold": true}``: at moment ``M`` of the ``N``-th checkpoint save of
  this process, write ``M`` and a newline to the FIFO; with ``hold``, then wait there (up to a minute, then
  exit 3) for the parent to kill the process; without, go on (the parent kills it a chosen delay later).
  The moments, in the order a save passes them (:func:`studio.core.checkpoint.save_checkpoint` within
  :func:`studio.core.atomic.atomic_path`): ``write`` (safetensors starts writing its temporary file),
  ``written`` (the file is whole; the studio is about to fsync it), ``synced`` (about to rename it over
  the checkpoint), ``renamed`` (the new checkpoint is in place; the run has not yet logged it).
- ``{"save": N, "disk_full": true}``: the ``N``-th save fails as safetensors fails on a full disk: its
  ``SafetensorError`` with the words it gave on a 1 MiB tmpfs filled up ("... No space left on device
  (os error 28)"), after its temporary file was cleaned up, as safetensors does.
- ``{"data_limit_bytes": B}``: the process may allocate at most ``B`` bytes of data
  (``resource.setrlimit(RLIMIT_DATA)``): what it asks for beyond that fails as it would with no memory left.
  The data limit rather than the address-space one (``RLIMIT_AS``): the libraries torch maps count towards
  the address space by gigabytes that differ from one torch build to another, but not towards data.
- ``{"observe_network": PATH}``: not a fault: after the network guard (installed first, as the studio
  installs it), an audit hook appends to ``PATH`` every socket call to another machine that got past the
  guard (one JSON line each): what it let through, which should be nothing.
"""

import json
import os

_FAULT = json.loads(os.environ.get("STUDIO_INJECT_FAULTS") or "{}")
_HOLD_S = 60.0


def _limit_data(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.RLIM_INFINITY))


def _tell(moment: str) -> None:
    if _FAULT.get("moment") != moment:
        return
    with open(_FAULT["tell"], "w") as fifo:
        fifo.write(moment + "\n")
    if _FAULT.get("hold"):
        import time

        time.sleep(_HOLD_S)
        os._exit(3)  # nobody killed it: the parent has gone


def _patch_saves() -> None:
    """Count checkpoint saves, and inside the chosen one pass through the moments above."""
    import studio.core.checkpoint as checkpoint

    real_save = checkpoint.save_checkpoint
    real_fsync, real_replace = os.fsync, os.replace
    saves = {"count": 0, "inside": False}

    def chosen() -> bool:
        return saves["inside"] and saves["count"] == _FAULT["save"]

    def save_checkpoint(*args, **kwargs):
        saves["count"] += 1
        saves["inside"] = True
        import safetensors.torch  # loaded by now: the save imports it

        real_file = safetensors.torch.save_file

        def save_file(tensors, filename, metadata=None):
            if chosen() and _FAULT.get("disk_full"):
                from safetensors import SafetensorError

                raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
            if chosen():
                _tell("write")
            real_file(tensors, filename, metadata=metadata)

        safetensors.torch.save_file = save_file
        try:
            return real_save(*args, **kwargs)
        finally:
            safetensors.torch.save_file = real_file
            saves["inside"] = False

    def fsync(fd):
        if chosen():
            _tell("written")
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        if chosen():
            _tell("synced")
        real_replace(src, dst, **kwargs)
        if chosen():
            _tell("renamed")

    checkpoint.save_checkpoint = save_checkpoint  # before studio.engine.training imports it by name
    os.fsync, os.replace = fsync, replace


def _observe_network(path: str) -> None:
    import socket
    import sys

    from studio.core import network_guard

    network_guard.install()  # idempotent: the studio's own start-up installs it again
    local = (None, "localhost", "127.0.0.1", "::1")

    def observe(event, args):
        made = None
        if event in ("socket.connect", "socket.sendto") and args[0].family in (socket.AF_INET, socket.AF_INET6):
            made = None if args[1][0] in local else args[1][0]
        elif event == "socket.getaddrinfo" and args[0] not in local:
            made = args[0]
        if made is not None:
            with open(path, "a") as f:
                f.write(json.dumps({"event": event, "host": str(made)}) + "\n")

    sys.addaudithook(observe)  # after the guard's: it sees only what the guard let through


if "observe_network" in _FAULT:
    _observe_network(_FAULT["observe_network"])
if "data_limit_bytes" in _FAULT:
    _limit_data(int(_FAULT["data_limit_bytes"]))
if "save" in _FAULT:
    _patch_saves()
