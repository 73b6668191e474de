"""The CLI: stable JSON, errors on stderr with a non-zero exit."""

import json
import subprocess
import sys

import pytest

from studio.cli import main


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_doctor_json_succeeds_and_reports_the_machine(capsys):
    report = run_json(capsys, "doctor", "--json")
    assert report["ok"] is True and report["problems"] == []
    assert report["packages"]["torch"].startswith("2.")
    assert report["device"]["name"] in ("cpu", "cuda", "mps")
    assert set(report["audio"]) >= {"available", "output_devices"}
    assert set(report["display"]) >= {"usable", "platform", "error"}
    assert report["workspace"]["usable"] is True
    assert "panels" in report["plugins"]["loaded"]
    assert isinstance(report["datasets"], list)


def test_models_list_json_is_stable(capsys):
    listing = run_json(capsys, "models", "list", "--json")
    assert listing["contract_version"] == 2
    for model in listing["models"]:
        assert set(model) == {"name", "title", "family", "capabilities", "trainable", "data_kind",
                              "plugin", "plugin_version", "description", "config", "builds_on", "imports_from",
                              "featured"}
    models = {m["name"]: m for m in listing["models"]}
    assert models["hf-causal-lm"]["imports_from"] == ["folder"] and models["gpt"]["featured"]


@pytest.mark.starters
def test_models_list_names_the_starter_models_and_where_they_are(capsys):
    listing = run_json(capsys, "models", "list", "--json")
    starters = {s["model"]: s for s in listing["starters"]}
    assert set(starters["vae"]) == {"title", "model", "step", "checkpoint", "command"}
    assert starters["gpt"]["checkpoint"].endswith("checkpoint.safetensors") and starters["gpt"]["step"] > 0
    assert main(["models", "list"]) == 0
    assert "--start-from PATH" in capsys.readouterr().out


def test_doctor_fails_on_an_unusable_workspace(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    assert main(["--workspace", str(not_a_folder), "doctor"]) == 1
    assert "cannot be used" in capsys.readouterr().out


def test_unknown_device_is_a_usage_error_on_stderr():
    done = subprocess.run([sys.executable, "-m", "studio", "--device", "quantum", "models", "list"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Unknown device 'quantum'" in done.stderr and done.stdout == ""


def test_unknown_command_exits_with_usage_error():
    done = subprocess.run([sys.executable, "-m", "studio", "frobnicate"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice" in done.stderr


@pytest.mark.parametrize("argv", [["plugins", "list"], ["models", "list"]])
def test_listings_run_as_a_program(argv):
    done = subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_doctor_checks_the_workspace_last_opened_in_the_app(tmp_path, monkeypatch):
    import os

    from studio.ui.app import make_qapplication
    from studio.ui.settings import Settings

    make_qapplication()
    chosen = tmp_path / "chosen in the app"
    settings = Settings()  # what the app writes when the user opens a workspace
    settings.set("workspace", str(chosen))
    settings.sync()
    monkeypatch.delenv("STUDIO_WORKSPACE")
    # XDG_CONFIG_HOME is this test's settings folder; XDG_DATA_HOME keeps a wrong answer out of the real one
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "studio", "doctor", "--json"], capture_output=True, text=True,
                          env=env, timeout=120)
    workspace = json.loads(done.stdout)["workspace"]
    assert (workspace["path"], workspace["chosen_by"], workspace["usable"]) == (str(chosen), "settings", True)

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "from env"))  # the environment still wins
    from studio.cli.doctor import _workspace

    assert _workspace(None, [], [])["chosen_by"] == "STUDIO_WORKSPACE"


WORKSPACE_KEYS = {"path", "chosen_by", "usable", "schema_version", "counts", "error"}


def test_doctor_json_keeps_its_keys_when_things_fail(tmp_path, monkeypatch):
    from studio.cli import doctor

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    broken, fine = doctor._workspace(str(not_a_folder), [], []), doctor._workspace(str(tmp_path / "ws"), [], [])
    assert set(broken) == set(fine) == WORKSPACE_KEYS
    assert (broken["usable"], broken["schema_version"], broken["counts"]) == (False, None, None)
    assert fine["error"] is None and fine["chosen_by"] == "--workspace"

    import studio.core.device

    working = doctor._device(None, [], [])

    def no_torch(_requested):
        raise RuntimeError("torch is broken")

    monkeypatch.setattr(studio.core.device, "pick_device", no_torch)
    problems = []
    failed = doctor._device(None, problems, [])
    assert set(failed) == set(working) == {"name", "description", "cuda_available", "mps_available", "error"}
    assert failed["cuda_available"] is None and failed["error"] == "torch is broken" and problems
    assert working["error"] is None


def test_doctor_datasets_always_have_available_and_error():
    from studio.cli.doctor import _datasets
    from studio.core.plugins import discover

    datasets = _datasets(discover())
    assert datasets
    for entry in datasets:
        assert set(entry) == {"name", "kind", "needs_location", "available", "error"}
        if entry["needs_location"]:
            assert entry["available"] is None  # nothing to check until the user names a folder


def test_doctor_fails_naming_a_plugin_that_failed_to_load(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_doctor", 'raise RuntimeError("broken on import")')
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "plugin test_plugin_doctor failed to load (failed in import: RuntimeError: broken on import)" in out
    assert out.rstrip().splitlines()[-1] == "The plugin test_plugin_doctor failed to load: see `studio plugins list`."
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["plugins"]["failed"] == ["test_plugin_doctor"]


def test_a_model_of_a_plugin_that_failed_is_named_with_the_plugin(make_plugin_dist, tmp_path, capsys):
    make_plugin_dist("test_plugin_gone", 'raise RuntimeError("broken on import")')
    assert main(["train", "markov", "--data", "shakespeare", "--steps", "2", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "No model named 'markov'" in err and "test_plugin_gone (failed in import: RuntimeError" in err
