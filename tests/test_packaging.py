"""The wheel holds what an installed studio needs: its packages, the built-in plugins and the
top-level resources/ folder (the icon, the starter models and the data they ship), found with
importlib.resources."""

import shutil
import subprocess
import sys
import zipfile

from conftest import REPO


def test_the_wheel_holds_the_studio_its_plugins_and_its_resources(tmp_path):
    source = tmp_path / "source"  # a copy: building leaves build/ and egg-info folders behind
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info",
                                                                "__pycache__", "benchmarks", "docs"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "--wheel-dir", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("generative_studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("studio_resources/studio.svg", "studio_resources/__init__.py", "studio/ui/kit/state.py",
                   "studio/ui/panels/latent_explorer/panel.py", "studio_builtins/text/gpt.py",
                   "studio/core/data/shakespeare.txt",
                   "studio_resources/starters/vae-fashion-mnist/checkpoint.safetensors",
                   "studio_resources/starters/vae-fashion-mnist/starter.json",
                   "studio_resources/starters/gpt-shakespeare/job.json",
                   "studio_resources/datasets/fashion-mnist-sample/sample-images-idx3-ubyte.gz"):
        assert needed in names, needed
    assert not any(name.startswith(("resources/", "tests/", "plugins/")) for name in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "autoencoders = studio_builtins.autoencoders" in entry_points
