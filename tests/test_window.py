"""The main window: five panels from the contract, menus, status bar, persistence."""

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QTableWidget

from studio.ui.kit.panel import Panel

PANELS = ["Image Canvas", "Latent Explorer", "Piano Roll", "Text Composer", "Dream Simulator"]


def tab_titles(window):
    return [window.tabs.tabText(i) for i in range(window.tabs.count())]


def test_window_opens_with_the_five_panels(studio_app):
    window = studio_app().window
    assert tab_titles(window) == PANELS
    for name, widget in window.panels.items():
        assert isinstance(widget, Panel), name
    assert window.panels["piano-roll"].spec.plugin == "panels"  # contributed through the entry point


def test_empty_panels_say_what_to_do_next(studio_app):
    window = studio_app().window
    text = window.panels["dream-simulator"].stack.empty.body_text
    assert "None is trained in this workspace yet" in text  # the World Models plugin's models work here
    assert "studio dream collect" in text and "--from mdn-rnn=rnn" in text  # a pipeline: its stages in order


def test_menus_have_workspace_import_export_plugins_help(studio_app):
    window = studio_app().window
    menus = {m.title().replace("&", ""): [a.text().replace("&", "") for a in m.actions() if a.text()]
             for m in window.menuBar().findChildren(QMenu)}
    assert {"New Workspace…", "Open Workspace…", "Import…", "Export…", "Quit"} <= set(menus["File"])
    assert "Plugin Manager…" in menus["Plugins"]
    assert {"Keyboard Shortcuts", "About Generative Studio"} <= set(menus["Help"])


def test_status_bar_shows_the_compute_device(studio_app, qtbot):
    window = studio_app().window
    qtbot.waitUntil(lambda: "CPU" in window.device_label.text(), timeout=30000)


def test_layout_and_panel_persist_across_restarts(studio_app):
    first = studio_app()
    first.window.show_panel("text-composer")
    first.window.jobs_dock.hide()
    first.close()
    second = studio_app()
    assert second.window.current_panel().spec.name == "text-composer"
    assert not second.window.jobs_dock.isVisible()


def test_export_with_nothing_to_export_says_so(studio_app):
    window = studio_app().window
    window.show_panel("image-canvas")
    assert "Sample some images first" in window.current_panel().export()
    window.show_panel("piano-roll")
    assert "Draw, import or continue some notes first" in window.current_panel().export()
    window.show_panel("dream-simulator")
    assert "nothing to export yet" in window.current_panel().export()


def test_choosing_a_device_is_saved_and_reaches_the_inference_thread(studio_app, qtbot):
    app = studio_app()
    qtbot.waitUntil(lambda: "CPU" in app.window.device_label.text(), timeout=30000)
    app.window.device_label.setText("Device: ?")
    app.window.findChild(QAction, "Device_cuda").trigger()
    assert app.settings.get("device") == "cuda"
    assert app.jobs.manager.device == "cuda"
    # no GPU here: the inference thread says so and falls back
    qtbot.waitUntil(lambda: "not available" in app.window.device_label.text() or
                    "CUDA" in app.window.device_label.text(), timeout=30000)


def test_keyboard_shortcuts_list_menu_actions_and_panel_shortcuts(studio_app, qtbot):
    from PySide6.QtGui import QKeySequence

    from studio.ui.help import shortcut_rows, shortcuts_dialog

    window = studio_app().window
    window.panels["piano-roll"].add_shortcut("Ctrl+Shift+M", lambda: None, "Play the phrase")
    rows = shortcut_rows(window)
    assert ("Keyboard Shortcuts", "Ctrl+/", "Menus") in rows
    # the Image Canvas's own QShortcuts, which are not menu actions
    assert ("Sample a new grid", "Ctrl+Return", "Image Canvas") in rows
    assert ("Stop sampling", QKeySequence("Esc").toString(QKeySequence.NativeText), "Image Canvas") in rows
    assert ("Play the phrase", "Ctrl+Shift+M", "Piano Roll") in rows

    dialog = shortcuts_dialog(window)
    qtbot.addWidget(dialog)
    table = dialog.findChild(QTableWidget, "ShortcutTable")
    shown = {tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())}
    assert ("Sample a new grid", "Ctrl+Return", "Image Canvas") in shown


def test_import_on_a_panel_without_import_lists_the_panels_that_do(studio_app):
    window = studio_app().window
    told = []
    window._tell = lambda title, text: told.append(text)
    window.show_panel("dream-simulator")
    window.import_file()
    text = told[-1]
    for panel in window.panels.values():
        if panel.import_filter:
            assert f"{panel.spec.title}: {panel.import_filter}" in text
        else:
            assert panel.spec.title not in text
    assert "Text Composer: Text (*.txt *.md)" in text


def test_device_menu_checks_the_device_in_use_not_only_the_setting(studio_app):
    app = studio_app(device="cpu")  # as `studio --device cpu`, with "auto" in the settings
    assert app.settings.get("device") == "auto"
    assert app.window.findChild(QAction, "Device_cpu").isChecked()
    assert not app.window.findChild(QAction, "Device_auto").isChecked()
    app.window.findChild(QAction, "Device_mps").trigger()
    assert app.device == "mps"  # the next window (another workspace) keeps the choice


def test_jobs_dock_is_short_by_default_and_a_saved_layout_wins(studio_app, qtbot):
    from PySide6.QtCore import Qt

    from studio.ui.main_window import JOBS_DOCK_HEIGHT

    first = studio_app()
    qtbot.waitExposed(first.window)
    dock = first.window.jobs_dock
    assert dock.height() == JOBS_DOCK_HEIGHT and dock.height() < first.window.height() / 4  # was 241 of 820
    first.window.resizeDocks([dock], [360], Qt.Vertical)
    qtbot.waitUntil(lambda: dock.height() > 300)
    first.close()
    second = studio_app()
    qtbot.waitExposed(second.window)
    # offscreen, a restored window comes back a little shorter (no frame); the dock keeps its size
    assert second.window.jobs_dock.height() > 300


def test_app_icon_ships_in_the_package_and_is_the_window_icon(studio_app):
    import configparser

    from PySide6.QtWidgets import QApplication

    from studio.ui.app import ICON

    window = studio_app().window
    assert ICON.is_file() and ICON.name == "studio.svg"  # found through importlib.resources
    assert not QApplication.windowIcon().isNull() and not window.windowIcon().isNull()
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(Path(__file__).parent.parent / "packaging" / "linux" / "generative-studio.desktop")
    assert entry["Desktop Entry"]["Exec"] == "studio"
    assert entry["Desktop Entry"]["Icon"] == QApplication.desktopFileName() == "generative-studio"


def test_a_panel_without_a_state_of_its_own_lists_the_models_of_its_capability(studio_app):
    window = studio_app().window
    for name, capability in (("piano-roll", "MusicGenerator"), ("dream-simulator", "WorldModel"),
                             ("image-canvas", "ImageSampler")):
        assert window.panels[name].state.models.capability == capability
