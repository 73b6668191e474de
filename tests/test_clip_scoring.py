"""CLIP scores of the canvas's images against their prompt (issue 16, chapter 13).

A tiny CLIP model is built from configs with a tokenizer and image processor written here, saved as
an artist keeps a CLIP folder, and loaded through the plugin's loader. Trained for a moment to tell
red images from blue ones by the prompts "red" and "blue", it must rank the images that match a
prompt first, which its untrained self does not: the score measures something learnt, not chance.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from clip_support import BLUE, RED, coloured, pixels_of, save, tiny_clip, train_red_and_blue

from studio.core import network_guard
from studio.core.capabilities import ModelError, PromptScorer
from studio.engine.inference import ModelRef
from studio.ui.kit.evented import Events
from studio.ui.kit.work import Work
from studio.ui.panels.image_canvas.scoring import Scorer, Scoring
from studio.ui.panels.image_canvas.state import Grid


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(untrained, trained) CLIP model folders, the second the first after training."""
    root = tmp_path_factory.mktemp("clip")
    model, tokenizer, processor = tiny_clip(root / "tokenizer")
    untrained = save(model, processor, root / "untrained")
    trained = save(train_red_and_blue(model, tokenizer, processor), processor, root / "trained")
    return untrained, trained


@pytest.fixture(scope="module")
def scorers(folders):
    from studio_builtins.clip.loading import load_clip

    return tuple(load_clip(str(folder), "cpu") for folder in folders)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(7)  # not the training images
    return {"red": coloured(RED, 6, rng), "blue": coloured(BLUE, 6, rng)}


def test_registering_the_plugin_imports_nothing_heavy():
    code = ("import sys, studio_builtins.clip as c; from studio.core.plugins import PluginHost; "
            "h = PluginHost(); h.add(c, 'clip'); assert h.plugins['clip'].status == 'loaded', h.plugins['clip']; "
            "spec = h.registry.model('clip'); "
            "assert (spec.title, spec.capabilities, spec.imports_from) == "
            "('CLIP (your weights)', ('PromptScorer',), ('folder',)), spec; "
            "assert not {'torch', 'transformers'} & set(sys.modules), 'registering imported torch or transformers'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_scores_are_one_repeatable_number_per_image_from_0_to_100(scorers, images):
    untrained, trained = scorers
    assert isinstance(trained, PromptScorer)
    red = images["red"]
    for scorer in scorers:
        scores = scorer.score(red, "red")
        assert scores.shape == (len(red),) and scores.dtype == np.float32
        assert ((scores >= 0) & (scores <= 100)).all()
        assert np.array_equal(scorer.score(red, "red"), scores)
    # any size and any number of channels: the folder's processor resizes, grey is repeated as RGB
    assert trained.score(np.full((3, 48, 40, 1), 0.5, np.float32), "red").shape == (3,)
    assert trained.score(red[:0], "red").shape == (0,)
    with pytest.raises(ModelError, match="no prompt"):
        trained.score(red, "  ")


def test_the_score_is_100_times_the_cosine_of_the_two_embeddings(folders, scorers, images):
    """What torchmetrics' CLIPScore reports: transformers' own logits, without the learnt temperature."""
    import torch
    from transformers import CLIPModel, CLIPTokenizer

    from studio_builtins.clip.loading import image_processor_class

    folder = folders[1]
    model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
    tokens = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)(["blue"], return_tensors="pt")
    pixels = pixels_of(image_processor_class().from_pretrained(str(folder)), images["blue"])
    with torch.no_grad():
        cosine = model(**tokens, pixel_values=pixels).logits_per_image[:, 0] / model.logit_scale.exp()
    expected = np.maximum(100 * cosine.numpy(), 0)
    assert expected.min() > 10  # a real match, not a score clipped to 0
    assert scorers[1].score(images["blue"], "blue") == pytest.approx(expected, abs=1e-3)


def margin(scorer, images, prompt, other):
    """How far the images of ``prompt`` score above those of ``other``: the worst pair's difference."""
    return float(scorer.score(images[prompt], prompt).min() - scorer.score(images[other], prompt).max())


def test_the_trained_model_ranks_the_images_that_match_a_prompt_first_and_chance_does_not(scorers, images):
    def worst(scorer):
        return min(margin(scorer, images, "red", "blue"), margin(scorer, images, "blue", "red"))

    untrained, trained = scorers
    assert worst(trained) > 5  # for both prompts, every matching image above every other one
    # untrained, the red images score higher for both prompts: one of the two is ranked wrong
    assert worst(untrained) < 0


def broken(folder, tmp_path, damage):
    copy = shutil.copytree(folder, tmp_path / "clip")
    damage(copy)
    return copy


def pickled(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")


def tokenizer_without_words(folder):
    (folder / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1}))
    (folder / "merges.txt").write_text("#version: 0.2\n")


def text_encoder_only(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config["text_config"], "model_type": "clip_text_model"}))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "config.json").unlink(), "has no config.json; a CLIP model folder needs config.json"),
    (pickled, r"only as a pickle \(pytorch_model.bin\)\. A pickle can run any code"),
    (lambda f: (f / "model.safetensors").unlink(), "no weights: model.safetensors is missing"),
    (tokenizer_without_words, r"loaded with 2 token\(s\) and cannot read 'a photo of a cat'"),
    (lambda f: (f / "vocab.json").unlink(), "no CLIP tokenizer: it needs vocab.json and merges.txt"),
    (lambda f: (f / "preprocessor_config.json").unlink(), "no preprocessor_config.json"),
    (text_encoder_only, "only CLIP's text encoder"),
])
def test_a_folder_that_is_not_a_whole_safe_clip_model_is_refused_saying_why(folders, tmp_path, damage, message):
    from studio_builtins.clip.loading import load_clip

    with pytest.raises(ModelError, match=message):
        load_clip(str(broken(folders[0], tmp_path, damage)), "cpu")


def test_loading_asks_no_network(folders):
    from studio_builtins.clip.loading import load_clip

    before = network_guard.blocked_attempts()
    load_clip(str(folders[0]), "cpu").score(np.zeros((1, 8, 8, 3), np.float32), "red")
    assert network_guard.blocked_attempts() == before


# -- the canvas's scorer ---------------------------------------------------------------------------

class Canvas:
    """What :class:`Scoring` needs of the canvas: its catalogue, work, grid and two events."""

    def __init__(self, bench):
        self.registry, self.store = bench.registry, bench.store
        self.work = Work(bench.executor, owner="canvas")
        self.events = Events("scorers", "scores")
        self.grid = None
        self.scoring = Scoring(self)


@pytest.fixture
def canvas(bench, folders, scorers):
    import studio_builtins.clip as plugin

    assert bench.host.add(plugin, "clip").status == "loaded"
    bench.executor.models[str(folders[1])] = scorers[1]
    return Canvas(bench)


def grid_of(images, prompt):
    return Grid(images, {"panel": "image-canvas", "model": "painter", "seed": 3, "condition": {"prompt": prompt}})


def test_an_imported_clip_folder_scores_the_grid_shown_and_orders_it_best_first(canvas, bench, folders, images):
    scoring, heard = canvas.scoring, []
    canvas.events.scores.connect(lambda: heard.append(scoring.scores))
    scoring.find()
    assert scoring.scorer is None and "Import a CLIP model folder" in scoring.unavailable()
    done = []
    scoring.add(str(folders[1]), done.append)
    bench.executor.run()
    assert done == [True] and scoring.scorer == Scorer(ModelRef("clip", str(folders[1])), "trained")
    assert [row["spec"] for row in bench.store.checkpoints()] == ["clip"]  # kept in the workspace
    # blue, red, blue, red, ...: the grid's order is not the score's
    mixed = np.stack([images["blue" if i % 2 == 0 else "red"][i // 2] for i in range(8)])
    canvas.grid = grid_of(mixed, "red")
    scoring.set_scoring(True)
    bench.executor.run()
    assert scoring.scores.shape == (8,) and heard[-1] is scoring.scores
    assert sorted(scoring.order()[:4]) == [1, 3, 5, 7]  # the red ones
    assert scoring.scores[scoring.order()[0]] == scoring.scores.max()
    params = scoring.params_with_score(canvas.grid.params, 3)
    assert params["clip_score"] == round(float(scoring.scores[3]), 2) and params["clip_scorer"] == "trained"
    assert params["seed"] == 3 and "clip_score" not in canvas.grid.params  # the grid's own are left as they are


def test_only_the_grid_shown_is_scored_and_a_grid_without_a_prompt_is_not(canvas, bench, folders, scorers, images):
    scoring = canvas.scoring
    bench.store.add_checkpoint("clip", str(folders[1]), 0, bench.store.add_model("mine", "clip", {}))
    scoring.find()
    assert scoring.scorer.title == "mine"
    scoring.set_scoring(True)
    canvas.grid = grid_of(images["red"], "red")
    scoring.score_grid()
    canvas.grid = grid_of(images["blue"], "blue")  # shown before the first one's scores came back
    scoring.score_grid()
    bench.executor.run()
    assert scoring.scores == pytest.approx(scorers[1].score(images["blue"], "blue"))  # the second grid's
    assert scoring.order() == list(np.argsort(-scoring.scores, kind="stable"))
    canvas.grid = Grid(images["red"], {"seed": 3, "condition": {"label": 1}})
    scoring.score_grid()
    assert bench.executor.queue == [] and scoring.scores is None
    assert "made without a prompt" in scoring.unavailable()
    assert scoring.order() == list(range(6))  # as the grid is, while it is not scored
    assert scoring.params_with_score({"seed": 3}, 0) == {"seed": 3}
