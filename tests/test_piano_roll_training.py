"""Training a music model from the app, as an artist does: Train… on a folder of their MIDI files (one
of them damaged), and the piano roll then offers the new model."""

import json

from PySide6.QtWidgets import QDialog, QFileDialog
from test_music_models import hymn

from studio.core.music.midi import write_midi
from studio.engine.run_folder import EVENTS_NAME
from studio.ui.train_dialog import TrainDialog

TINY = {"embedding_dim": "32", "n_heads": "2", "key_dim": "16", "feed_forward_dim": "32", "seq_len": "16",
        "batch_size": "8", "warmup_steps": "2"}


def test_the_music_transformer_trains_on_a_midi_folder_from_the_dialog(studio_app, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "my midi"
    folder.mkdir()
    for i in range(5):
        write_midi(hymn(i), folder / f"hymn{i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # cut short in its header
    app = studio_app()
    dialog = TrainDialog(app.window.jobs_dock.context, app.window.jobs_dock, model="music-transformer")
    offered = [dialog.source.itemData(i) for i in range(dialog.source.count())]
    assert {"bach-chorales", "midi-folder", "midi-file", "jsb-chorales"} <= set(offered)
    dialog.source.setCurrentIndex(offered.index("midi-folder"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    dialog.browse.click()  # a folder source asks for a folder
    assert dialog.location.text() == str(folder)
    dialog.steps.setValue(6)
    for name, value in TINY.items():
        dialog.setting_edits[name].setText(value)
    dialog.start()
    assert dialog.result() == QDialog.Accepted
    job = app.jobs.manager.store.job(dialog.job_id)
    qtbot.waitUntil(lambda: app.jobs.manager.store.job(job.id).status in ("finished", "failed"), timeout=120_000)
    assert app.jobs.manager.store.job(job.id).status == "finished"
    events = [json.loads(line) for line in (app.workspace.folder("jobs") / job.id / EVENTS_NAME).open()]
    skipped = [e for e in events if e.get("event") == "data"]
    assert skipped and "broken.mid" in skipped[0]["message"]  # reported, and the good files trained
    roll = app.window.panels["piano-roll"]
    roll.refresh()
    assert any(not c.starter and c.spec.name == "music-transformer" for c in roll.state.models.choices)
