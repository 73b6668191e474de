"""The plugin contract: every hook a plugin may implement.

A plugin is a module (or object) named by an entry point in the
``studio.plugins`` group. It implements any of the hooks below with the
:data:`hookimpl` marker. Hooks are called with keyword arguments only; an
implementation may accept fewer arguments than the spec lists, so arguments can
be added later without breaking plugins.

Registration hooks receive a ``register`` callback rather than returning
values: the host validates each spec as it is handed over, so a mistake is
reported against the plugin that made it. A plugin whose import or any hook
raises is disabled as a whole and listed, with its traceback, in the Plugins
dialog and in ``studio plugins list``; the studio keeps running.

Registration must stay cheap: specs name heavy objects by reference
(``"package.module:attribute"``), so discovery never imports torch or Qt.
"""

import pluggy

PROJECT = "studio"
ENTRY_POINT_GROUP = "studio.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def studio_register_models(register):
    """Contribute models.

    :param register: call ``register(ModelSpec(...))`` once per model. The spec
        names the model, its family, the capabilities it offers, its config
        dataclass, a factory and (optionally) a trainer; see
        :class:`studio.core.specs.ModelSpec`.
    """


@hookspec
def studio_register_panels(register):
    """Contribute tool panels.

    :param register: call ``register(PanelSpec(...))`` once per panel. The spec's
        ``widget`` is a Qt widget class (by reference) that takes a
        ``studio.ui.kit.panel.PanelContext``; see :class:`studio.core.specs.PanelSpec`.
    """


@hookspec
def studio_register_dataset_sources(register):
    """Contribute places training data can come from.

    :param register: call ``register(DatasetSourceSpec(...))`` once per source
        (an image folder, IDX files, a bundled demo set, ...).
    """


@hookspec
def studio_register_exporters(register):
    """Contribute file formats artifacts can be exported to.

    :param register: call ``register(ExporterSpec(...))`` once per format.
    """


@hookspec(historic=True)
def studio_app_ready(context):
    """Called by the desktop app when a main window is up: the registry is
    complete and the window is shown. It is called again each time the user
    opens another workspace (File ▸ Open Workspace makes a new window), so an
    implementation must expect several calls and should act on the context it is
    given, not keep the first one. Plugins registered later are called too. The
    command-line tools (``studio train``, ``studio models list``, ...) never call it.

    :param context: a :class:`studio.core.plugins.StudioContext` with the
        ``registry``, the ``workspace`` just opened and its main ``window``.
    """
