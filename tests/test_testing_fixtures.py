"""The fixtures the studio ships for plugin authors (studio.testing), on the text side; the image side
is exercised by the example image plugin's own tests (test_example_plugin)."""

import pytest


def test_the_tiny_text_is_split_for_a_trainer_and_unknown_kinds_are_named(studio_data):
    data = studio_data("text")
    assert isinstance(data.train, str) and isinstance(data.validation, str)
    assert len(data.train) > 5 * len(data.validation) > 0
    with pytest.raises(ValueError, match="no tiny dataset of kind 'rollouts' yet; it has \\['images', 'music', "
                                         "'text'\\]"):
        studio_data("rollouts")


def test_the_tiny_music_is_whole_chorales_split_for_a_trainer(studio_data):
    from studio.core.music.score import Score

    data = studio_data("music")
    assert len(data.train) == 7 and len(data.validation) == 1
    assert all(isinstance(s, Score) and len(s.tracks) == 4 and s.notes for s in data.train + data.validation)
    assert len({s.name for s in data.train + data.validation}) == 8
    assert [s.name for s in studio_data("music", seed=0).validation] == [s.name for s in data.validation]


def test_a_checkpoint_made_for_a_test_works_in_its_panel(make_studio_checkpoint, make_studio_panel, qtbot):
    checkpoint = make_studio_checkpoint("lstm", steps=5, hidden_size=32, embedding_dim=16, num_layers=1,
                                        block_size=32, batch_size=8)
    assert (checkpoint.parent / "job.json").is_file()
    composer = make_studio_panel("text-composer", checkpoint)
    assert composer.has_content() and composer.picker.current().ref.checkpoint == str(checkpoint)
    composer.editor.setPlainText("ROMEO:")
    composer.controls.length.setValue(10)
    composer.generate_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=30_000)
    assert len(composer.editor.toPlainText()) > len("ROMEO:")


def test_a_plugin_that_fails_to_load_fails_the_test_with_its_traceback(make_studio_host):
    import types

    broken = types.ModuleType("broken_plugin")
    broken.STUDIO_CONTRACT_VERSION = 99
    with pytest.raises(pytest.fail.Exception, match="broken_plugin failed to load \\(contract\\)"):
        make_studio_host(broken)
