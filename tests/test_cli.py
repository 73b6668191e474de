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
    assert listing["contract_version"] == 1
    for model in listing["models"]:
        assert set(model) == {"name", "title", "family", "capabilities", "trainable", "data_kind",
                              "plugin", "plugin_version", "description", "config"}


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
