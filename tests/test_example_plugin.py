"""The example third-party plugins, installed with pip offline, show up and work: a Markov chain
for text, and an image model (an MLP VAE with a Netpbm exporter) whose own tests, written with the
fixtures the studio ships, pass against the installed plugin."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import REPO, shakespeare_text

PLUGIN = REPO / "plugins" / "studio-markov"
IMAGE_PLUGIN = REPO / "plugins" / "studio-mlp-vae"


def pip_install(folder, target):
    """pip-install a plugin, offline, into ``target`` (a folder the tests put on the path)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps",
         "--quiet", "--target", str(target), str(folder)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="module")
def installed_markov(tmp_path_factory):
    target = pip_install(PLUGIN, tmp_path_factory.mktemp("site"))
    assert (target / "studio_markov").is_dir()
    return target


@pytest.fixture(scope="module")
def installed_mlp_vae(tmp_path_factory):
    target = pip_install(IMAGE_PLUGIN, tmp_path_factory.mktemp("site"))
    assert (target / "studio_mlp_vae").is_dir()
    return target


def studio_command(site, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=cwd)


@pytest.fixture
def markov_on_path(installed_markov, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(installed_markov))
    importlib.invalidate_caches()
    yield installed_markov
    for name in [m for m in sys.modules if m.startswith("studio_markov")]:
        del sys.modules[name]


def test_installed_plugin_is_listed_by_the_cli(installed_markov):
    done = studio_command(installed_markov, "models", "list", "--json")
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


def test_the_image_plugins_own_tests_pass_with_the_studios_fixtures_against_the_installed_plugin(
        installed_mlp_vae, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed_mlp_vae), "QT_QPA_PLATFORM": "offscreen"}
    # run from elsewhere, so the plugin imports from where pip put it, not from its source folder
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(IMAGE_PLUGIN / "tests")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "9 passed" in done.stdout


def test_the_installed_image_plugin_trains_and_generates_from_the_cli_with_its_exporter(installed_mlp_vae,
                                                                                       tmp_path):
    listed = json.loads(studio_command(installed_mlp_vae, "plugins", "list", "--json").stdout)["plugins"]
    [plugin] = [p for p in listed if p["name"] == "mlpvae"]
    assert (plugin["distribution"], plugin["status"], plugin["contract"]) == ("studio-mlp-vae", "loaded", 2)
    assert plugin["contributes"] == {"models": ["mlp-vae"], "exporters": ["netpbm"]}
    run = tmp_path / "run"
    done = studio_command(installed_mlp_vae, "train", "mlp-vae", "--data", "digits", "--steps", "60",
                          "--set", "image_size=16", "--set", "hidden=64", "--out", str(run), "--no-catalogue")
    assert done.returncode == 0, done.stderr
    grid = tmp_path / "grid.pgm"
    done = studio_command(installed_mlp_vae, "generate", "mlp-vae", "--checkpoint", str(run), "--n", "4",
                          "--seed", "5", "--out", str(grid))
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(installed_mlp_vae))
    try:
        from studio_mlp_vae.netpbm import read_netpbm

        pixels, params = read_netpbm(grid)
    finally:
        sys.path.remove(str(installed_mlp_vae))
        for name in [m for m in sys.modules if m.startswith("studio_mlp_vae")]:
            del sys.modules[name]
    assert grid.read_bytes().startswith(b"P5\n") and pixels.shape[2] == 1
    assert params["model"] == "mlp-vae" and params["seed"] == 5 and len(params["checkpoint_sha256"]) == 64
    done = studio_command(installed_mlp_vae, "generate", "mlp-vae", "--checkpoint", str(run),
                          "--out", str(tmp_path / "grid.bmp"))
    assert done.returncode == 1 and ".pgm" in done.stderr and ".png" in done.stderr
