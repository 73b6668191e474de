"""The example third-party plugin, installed with pip offline, shows up and works."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import REPO, shakespeare_text

PLUGIN = REPO / "plugins" / "studio-markov"


@pytest.fixture(scope="module")
def installed_markov(tmp_path_factory):
    """pip-install the plugin, offline, into a folder this test session puts on sys.path."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps",
         "--quiet", "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (target / "studio_markov").is_dir()
    return target


@pytest.fixture
def markov_on_path(installed_markov, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(installed_markov))
    importlib.invalidate_caches()
    yield installed_markov
    for name in [m for m in sys.modules if m.startswith("studio_markov")]:
        del sys.modules[name]


def test_installed_plugin_is_listed_by_the_cli(installed_markov):
    env = {**os.environ, "PYTHONPATH": str(installed_markov)}
    done = subprocess.run([sys.executable, "-m", "studio", "models", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    models = {m["name"]: m for m in json.loads(done.stdout)["models"]}
    assert models["markov"]["plugin"] == "markov"
    assert models["markov"]["plugin_version"] == "2.0.0"
    assert models["markov"]["capabilities"] == ["SequenceGenerator", "Trainer"]


def test_installed_plugin_appears_in_the_ui(markov_on_path, studio_app):
    window = studio_app().window
    assert "Markov chain text" in window.panels["text-composer"].stack.empty.body_text
    assert window.host.plugins["markov"].status == "loaded"


def test_markov_model_learns_and_generates(markov_on_path):
    from studio.core.plugins import discover
    from studio.core.specs import resolve

    text = shakespeare_text()[:200_000]
    data = SimpleNamespace(train=text[:180_000], validation=text[180_000:])
    spec = discover().registry.model("markov")
    trainer = resolve(spec.trainer)(spec.config(order=4), data)
    untrained = trainer.validate()["nll"]
    losses = [p.losses["nll"] for p in trainer.steps(0, 10)]
    trained = trainer.validate()["nll"]
    assert trained < 0.6 * untrained  # far better than knowing nothing
    assert losses[-1] < losses[0]

    model = resolve(spec.factory)(trainer.config)
    model.load_state_dict(trainer.model.state_dict())  # survives a save/load round trip
    def greedy():
        return "".join(s.text for s in model.generate("ROMEO:", max_new_tokens=40, temperature=0))
    assert greedy() == greedy()
    sampled = "".join(s.text for s in model.generate("ROMEO:\n", max_new_tokens=300, seed=1))
    words = [w.strip(".,;:!?'").lower() for w in sampled.split()]
    vocabulary = set(w.strip(".,;:!?'").lower() for w in text.split())
    assert sum(w in vocabulary for w in words) / len(words) > 0.7  # mostly real words
