"""Loading plugins: the whole story in one place.

Built-in and third-party plugins alike are entry points in the
``studio.plugins`` group. Each is loaded, registered and asked for its specs in
isolation: if its import or any of its hooks raises, it is disabled, whatever it
registered is withdrawn, and the failure (with its traceback) is kept for the
Plugins dialog and ``studio plugins list``. Nothing here imports torch or Qt.
Before a plugin is imported, its modules are named to the network guard
(:mod:`studio.core.network_guard`), so a network access from them names the plugin.

``STUDIO_PLUGINS`` is an allow-list of entry-point names (comma separated) that
recovers from a plugin that breaks start-up: unset loads every plugin, an empty
value loads none. A name it lists that no installed plugin has is listed too,
with the status "not found", so a typo does not pass unnoticed.

Entry-point names are unique: a second distribution offering a name already
taken (say, a third-party package reusing a built-in's name) is not loaded and
is listed as failed. The studio's own distribution is considered first, so a
built-in name can never be taken over.
"""

from __future__ import annotations

import os
import traceback
import types
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Optional

import pluggy

from studio import hookspecs
from studio.core import network_guard
from studio.core.registry import Registry
from studio.core.specs import CONTRACT_VERSION, SUPPORTED_CONTRACTS, Contributions

ALLOW_LIST_VARIABLE = "STUDIO_PLUGINS"
#: The module attribute a plugin declares its contract version with (none: version 1).
CONTRACT_ATTRIBUTE = "STUDIO_CONTRACT_VERSION"
#: The distribution the built-in plugins come with; its entry points are loaded first.
STUDIO_DISTRIBUTION = "generative-studio"

#: (hook name, Contributions field) for the hooks that hand specs over.
REGISTER_HOOKS = (
    ("studio_register_models", "models"),
    ("studio_register_panels", "panels"),
    ("studio_register_dataset_sources", "dataset_sources"),
    ("studio_register_exporters", "exporters"),
)


@dataclass
class PluginInfo:
    """What the studio knows about one plugin, for listings."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    status: str = "loaded"  #: "loaded", "failed", "skipped" or "not found" (named in STUDIO_PLUGINS only)
    stage: str = ""  #: where it failed: "import", "contract", "register" or a hook name
    contract: int = 1  #: the plugin contract version it was written for
    error: str = ""  #: the traceback, for failed plugins
    contributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def described(self) -> str:
        """The plugin in a message: "plugin 'markov' (studio-markov 2.0.0)"."""
        package = " ".join(part for part in (self.distribution, self.version) if part)
        return f"plugin {self.name!r}" + (f" ({package})" if package else "")

    @property
    def summary(self) -> str:
        """One line for a listing: the exception itself, not the whole traceback."""
        if self.status == "skipped":
            return f"skipped: not named in {ALLOW_LIST_VARIABLE}"
        if self.status == "not found":
            return f"not found: {ALLOW_LIST_VARIABLE} names it, but no installed plugin has this name"
        if self.status == "failed":
            last = self.error.strip().splitlines()[-1] if self.error.strip() else "unknown error"
            return f"failed in {self.stage}: {last}"
        return "loaded"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "stage": self.stage,
            "contract": self.contract,
            "error": self.error,
            "contributes": self.contributes,
        }


@dataclass
class StudioContext:
    """What ``studio_app_ready`` receives."""

    registry: Registry
    workspace: Any = None
    window: Any = None  #: the main window (the hook is only called by the GUI)


def allow_list(environ=os.environ) -> Optional[set[str]]:
    """The plugin names ``STUDIO_PLUGINS`` allows, or None when it is unset (allow all)."""
    if ALLOW_LIST_VARIABLE not in environ:
        return None
    return {n.strip() for n in environ[ALLOW_LIST_VARIABLE].split(",") if n.strip()}


class PluginHost:
    """Owns the pluggy manager, the registry and the record of every plugin."""

    def __init__(self, allowed: Optional[set[str]] = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.allowed = allowed
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self._ready_context: Optional[StudioContext] = None

    # -- loading -----------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every plugin of the ``studio.plugins`` group the allow-list admits."""
        def order(ep: metadata.EntryPoint) -> tuple[str, bool]:
            return ep.name, _dist_name(ep) != STUDIO_DISTRIBUTION  # built-ins first for each name

        for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=order):
            dist = _dist_name(ep)
            version = ep.dist.version if ep.dist else ""
            info = PluginInfo(ep.name, ep.value, dist, version)
            first = self.plugins.get(ep.name)
            if first is not None:
                if (first.distribution, first.module) == (dist, ep.value):
                    continue  # the same distribution seen twice on sys.path
                self.plugins[f"{ep.name} ({dist or ep.value})"] = info
                self._fail(info, "register", f"the name {ep.name!r} is already used by "
                           f"{first.distribution or first.module}; {dist or ep.value} was not loaded (its entry "
                           "point needs another name)")
                continue
            self.plugins[ep.name] = info
            if self.allowed is not None and ep.name not in self.allowed:
                info.status = "skipped"
                continue
            _claim_modules(info, ep)  # before its import: what that reaches for names the plugin
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a plugin must not end the studio
                self._fail(info, "import")
                continue
            self._add(plugin, info)
        for name in sorted((self.allowed or set()) - self.plugins.keys()):
            self.plugins[name] = PluginInfo(name, "", status="not found")

    def add(self, plugin: Any, name: str, version: str = "") -> PluginInfo:
        """Register a plugin object directly (tests, notebooks); same checks as entry points."""
        info = PluginInfo(name, getattr(plugin, "__name__", type(plugin).__name__), "", version)
        self.plugins[name] = info
        if isinstance(plugin, types.ModuleType):
            network_guard.claim(plugin.__name__, info.described)
        self._add(plugin, info)
        return info

    def _add(self, plugin: Any, info: PluginInfo) -> None:
        info.version = info.version or str(getattr(plugin, "__version__", ""))
        refusal = _contract_refusal(plugin, info)
        if refusal:
            self._fail(info, "contract", refusal)
            return
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()  # a misspelled hook name is this plugin's
        except KeyboardInterrupt:
            raise
        except BaseException:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(info, "register")
            return
        pending = Contributions()
        for hook_name, kind in REGISTER_HOOKS:
            def register(spec, _kind=kind):
                self.registry.check(_kind, spec, pending)
                getattr(pending, _kind).append(spec)

            if not self._call(plugin, info, hook_name, register=register):
                return
        self.registry.commit(info.name, info.version, pending)
        info.contributes = {
            kind: [s.name for s in getattr(pending, kind)] for _, kind in REGISTER_HOOKS if getattr(pending, kind)
        }
        if self._ready_context is not None:
            self._call(plugin, info, "studio_app_ready", context=self._ready_context)

    def _call(self, plugin: Any, info: PluginInfo, hook_name: str, **kwargs: Any) -> bool:
        """Call one plugin's implementation of one hook; on error disable the plugin."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a plugin must not end the studio
                self.pm.unregister(plugin)
                self.registry.withdraw(info.name)
                info.contributes = {}
                self._fail(info, hook_name)
                return False
        return True

    def _fail(self, info: PluginInfo, stage: str, error: Optional[str] = None) -> None:
        info.status = "failed"
        info.stage = stage
        info.error = traceback.format_exc() if error is None else error
        self.registry.failed_plugins[info.name] = info.summary

    # -- after loading -------------------------------------------------------
    def app_ready(self, context: StudioContext) -> None:
        """Tell every loaded plugin the studio is up (and any plugin added later, on arrival)."""
        self._ready_context = context
        for info in list(self.plugins.values()):
            if info.status != "loaded":
                continue
            plugin = self.pm.get_plugin(info.name)
            if plugin is not None:
                self._call(plugin, info, "studio_app_ready", context=context)

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.status == "failed"]


def _contract_refusal(plugin: Any, info: PluginInfo) -> str:
    """Why the plugin cannot be loaded because of the contract version it declares, or ""."""
    declared = getattr(plugin, CONTRACT_ATTRIBUTE, 1)
    if isinstance(declared, bool) or not isinstance(declared, int):
        return (f"{info.name} declares {CONTRACT_ATTRIBUTE} = {declared!r}; it must be a whole number, the "
                f"plugin contract version it was written for (this studio's is {CONTRACT_VERSION}).")
    info.contract = declared
    if declared in SUPPORTED_CONTRACTS:
        return ""
    from studio import __version__

    supported = " and ".join(str(v) for v in SUPPORTED_CONTRACTS)
    if declared > CONTRACT_VERSION:
        advice = (f"Update Generative Studio to a version that supports contract {declared}, or install a "
                  f"release of {info.distribution or info.name} written for contract {CONTRACT_VERSION}.")
    else:
        advice = f"Install a release of {info.distribution or info.name} written for contract {CONTRACT_VERSION}."
    return (f"{info.name} was written for plugin contract {declared}, but Generative Studio {__version__} "
            f"supports contracts {supported}. {advice}")


def _claim_modules(info: PluginInfo, ep: metadata.EntryPoint) -> None:
    """Tell the network guard which modules are this plugin's: its entry point's module and, for a
    third-party package, the top-level packages it installs (its model code may live beside the module
    its entry point names)."""
    network_guard.claim(ep.module, info.described)
    if ep.dist is None or info.distribution == STUDIO_DISTRIBUTION:
        return  # the studio's own packages hold every built-in plugin and the studio itself
    for package in (ep.dist.read_text("top_level.txt") or "").split():
        network_guard.claim(package, info.described)


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist else ""


def discover() -> PluginHost:
    """A host with every admitted entry-point plugin loaded."""
    host = PluginHost(allowed=allow_list())
    host.load_entry_points()
    return host
