"""The network guard: a studio process reaches loopback and Unix sockets, nothing else.

:func:`install` adds an audit hook (PEP 578) that sees every call into Python's
``socket`` module, however it was reached (``urllib``, ``requests``, ``httpx``,
``huggingface_hub``, ``asyncio``, a function bound before the guard, ``_socket``
itself): connect and connect_ex, sendto and sendmsg, bind, and the name look-ups
(getaddrinfo, gethostbyname, gethostbyaddr, getnameinfo). A call for anything
but a loopback address or name, a Unix socket, or the rendezvous host
torch.distributed was given (``MASTER_ADDR``, which ``torchrun`` sets for its
workers) fails at once with :class:`NetworkBlocked`, before any packet or DNS
query leaves: an ``OSError``, so libraries treat it as a failed connection, and
a :class:`~studio.core.errors.UserError`, so the studio shows its message as
written. The message names who tried: the plugin, when a frame of the call's
stack is in a module a plugin claimed (:func:`claim`, called by the plugin
host), else the studio module or the library that made the call.

Children: :func:`install` sets ``STUDIO_NETWORK_GUARD=1`` in the environment,
which child processes inherit, and importing ``studio`` with it set installs
the guard (:func:`guard_if_inherited`). So a job process, a worker a plugin
starts with multiprocessing (its target's package imports ``studio`` for its
hooks) and any other child that imports the studio is guarded before its own
code runs, without a plugin's help. An environment variable, rather than a
hook in each place that starts a process, reaches the processes the studio does
not start itself (``spawn`` workers, a plugin's own subprocesses); the variable
cannot turn the guard off, only on.

Beyond its reach: native code that opens its own sockets (a C/C++ library, gloo
and NCCL under torchrun, Qt's own connections, a program run as a subprocess)
and a child process that never imports the studio. It guards against a library
or plugin reaching for the network by accident; it is not a sandbox for
hostile code (which could call :func:`uninstall`, or use ctypes).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.errors import UserError

#: Set to "1" by a guarded process for its children; importing ``studio`` with it set (to anything
#: not empty) installs the guard there too.
GUARD_VARIABLE = "STUDIO_NETWORK_GUARD"
#: What the guard lets through, for messages and ``studio doctor``.
ALLOWED = ("loopback addresses", "Unix sockets")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
#: the audit events of Python's socket module that reach another machine, with what they do
_ACTIONS = {
    "socket.connect": "connect to",
    "socket.sendto": "send to",
    "socket.sendmsg": "send to",
    "socket.bind": "listen on",
    "socket.getaddrinfo": "look up",
    "socket.gethostbyname": "look up",
    "socket.gethostbyaddr": "look up",
    "socket.getnameinfo": "look up",
}
_SOCKET_EVENTS = frozenset(_ACTIONS)


class NetworkBlocked(UserError, OSError):
    """A network access the guard refused (nothing was sent)."""


@dataclass
class _State:
    hook_added: bool = False
    active: bool = False
    set_variable: bool = False  #: whether :func:`install` set :data:`GUARD_VARIABLE` (uninstall removes it)
    rendezvous: tuple[str, ...] = ()  #: the hosts torch.distributed was given
    rendezvous_addresses: Optional[frozenset[str]] = None  #: what those resolve to, once asked
    blocked: int = 0
    told: set[str] = field(default_factory=set)  #: messages already written to stderr
    owners: dict[str, str] = field(default_factory=dict)  #: module (a package's covers its modules) -> who
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


# -- the public side -------------------------------------------------------------------------
def install() -> None:
    """Guard this process, and through the environment its children, from now on; idempotent."""
    if not _state.hook_added:
        sys.addaudithook(_audit)  # for good: an audit hook cannot be removed, only told to stand aside
        _state.hook_added = True
    if not os.environ.get(GUARD_VARIABLE):
        os.environ[GUARD_VARIABLE] = "1"
        _state.set_variable = True
    host = os.environ.get("MASTER_ADDR", "").strip().rstrip(".").lower()
    _state.rendezvous = (host,) if host and not _is_loopback_name(host) else ()
    _state.rendezvous_addresses = None
    _state.active = True


def guard_if_inherited() -> None:
    """Install the guard when a guarded parent said so (:data:`GUARD_VARIABLE`): called on ``import studio``."""
    if os.environ.get(GUARD_VARIABLE):
        install()


def uninstall() -> None:
    """Let this process reach the network again (tests, a notebook); children started from now on are
    not guarded unless :data:`GUARD_VARIABLE` was set before :func:`install`."""
    _state.active = False
    if _state.set_variable:
        os.environ.pop(GUARD_VARIABLE, None)
        _state.set_variable = False


def installed() -> bool:
    return _state.active


def allowed() -> list[str]:
    """What the guard lets through, in words."""
    return [*ALLOWED, *(f"the rendezvous host torch.distributed was given ({host}, MASTER_ADDR)"
                        for host in _state.rendezvous)]


def blocked_attempts() -> int:
    """How many network accesses this process was refused."""
    return _state.blocked


def network_blocked(exc: BaseException) -> Optional[NetworkBlocked]:
    """The guard's error behind ``exc`` when a library wrapped it (urllib's ``URLError`` keeps it as its
    ``reason``; others raise from it), else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NetworkBlocked):
            return exc
        seen.add(id(exc))
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
    return None


def claim(module: str, owner: str) -> None:
    """Say that ``module`` (a package: every module in it) is ``owner``'s, e.g. "plugin 'markov'
    (studio-markov 2.0.0)": a blocked call from it then names ``owner``."""
    _state.owners[module] = owner


# -- the hook ------------------------------------------------------------------------------------
def _audit(event: str, args: tuple) -> None:
    if event not in _SOCKET_EVENTS or not _state.active:  # every audited event passes here: keep it short
        return
    target = _refused(event, args)
    if target is not None:
        _block(event, target)


def _refused(event: str, args: tuple) -> Optional[str]:
    """What ``event`` would reach that the guard refuses ("example.com:443"), or None if it is allowed."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        sock, address = args
        if address is None or sock.family == getattr(socket, "AF_UNIX", None):
            return None  # sendmsg on a connected socket (checked at connect); a Unix socket
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return f"{address!r} (address family {sock.family!r})"
        if not isinstance(address, tuple) or len(address) < 2:
            return None  # not an address at all: the socket module says so itself
        host, port = address[0], address[1]
        return None if _allowed_host(host, listening=event == "socket.bind") else _where(host, port)
    if event == "socket.getaddrinfo":
        host, port = args[0], args[1]
        return None if host is None or _allowed_host(host) else _where(host, port)
    if event == "socket.getnameinfo":
        if not isinstance(args[0], tuple) or len(args[0]) < 2:
            return None  # not an address: the socket module says so itself
        host, port = args[0][0], args[0][1]
        return None if _allowed_host(host) else _where(host, port)
    host = args[0]  # gethostbyname, gethostbyaddr
    return None if _allowed_host(host) else _where(host, None)


def _allowed_host(host: Any, listening: bool = False) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().rstrip(".").lower()
    if name in ("", "0.0.0.0", "::"):  # "any": this machine when connecting, every interface when listening
        return not listening
    if _is_loopback_name(name) or name in _state.rendezvous:
        return True
    return bool(_state.rendezvous) and name in _rendezvous_addresses()


def _is_loopback_name(name: str) -> bool:
    import ipaddress

    name = name.lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _rendezvous_addresses() -> frozenset[str]:
    """The addresses the rendezvous hosts resolve to (a connect names an address, not the host)."""
    if _state.rendezvous_addresses is None:
        found = set()
        for host in _state.rendezvous:
            try:
                found.update(info[4][0] for info in socket.getaddrinfo(host, None))  # allowed: a rendezvous host
            except OSError:
                pass
        _state.rendezvous_addresses = frozenset(found)
    return _state.rendezvous_addresses


def _where(host: Any, port: Any) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if port in (None, 0, "0", b"0"):
        return str(host)
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _block(event: str, target: str) -> None:
    who, plugin = _who(sys._getframe(2))  # 0: _block, 1: _audit, 2: the caller of the socket function
    advice = (" Ask its author for a version that works offline, or leave it out with STUDIO_PLUGINS."
              if plugin else "")
    message = (f"Network access blocked: {who} tried to {_ACTIONS[event]} {target}. Generative Studio works "
               f"offline: only {_listed(allowed())} are allowed.{advice}")
    with _state.lock:
        _state.blocked += 1
        first = message not in _state.told
        _state.told.add(message)
    if first:  # in the job log too, even when a library swallows the error
        print(f"studio: {message}", file=sys.stderr, flush=True)
    raise NetworkBlocked(message)


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _who(frame) -> tuple[str, bool]:
    """Who made the call: (a description, whether it is a plugin). The innermost frame in a module a
    plugin claimed wins; else the innermost module outside Python's standard library (a library, the
    studio), with the studio module that called it."""
    library = studio_module = None
    while frame is not None:
        module = frame.f_globals.get("__name__") or ""
        owner = _owner(module)
        if owner is not None:
            return owner, True
        if library is None and module and module.split(".")[0] not in sys.stdlib_module_names:
            library = module
        if studio_module is None and (module == "studio" or module.startswith("studio.")):
            studio_module = module
        frame = frame.f_back
    if library is None:
        return "this process", False
    if library == studio_module:
        return f"Generative Studio ({studio_module})", False
    return f"the module {library}" + (f", called from {studio_module}," if studio_module else ""), False


def _owner(module: str) -> Optional[str]:
    owners = _state.owners
    while module:
        if module in owners:
            return owners[module]
        module = module.rpartition(".")[0]
    return None
