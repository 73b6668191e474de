"""What a test needs: a skip on a machine that lacks it, a failure under CI=true for what the set-up provides."""

import needs as needs_support
import pytest
from needs import needs, needs_module, needs_shared


def test_outside_ci_what_is_missing_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    needs(True, "never said")
    with pytest.raises(pytest.skip.Exception, match="Fashion-MNIST is not installed"):
        needs(False, "Fashion-MNIST is not installed")
    with pytest.raises(pytest.skip.Exception, match="no_such_module_here is not installed \\(a demo\\)"):
        needs_module("no_such_module_here", "a demo")


def test_under_ci_what_the_set_up_provides_fails_with_the_reason(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Fashion-MNIST is not installed .*under CI=true"):
        needs(False, "Fashion-MNIST is not installed")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_here is not installed"):
        needs_module("no_such_module_here")
    assert needs_module("json").dumps([]) == "[]"


def test_shared_data_skips_in_a_clone_without_it_even_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    missing = tmp_path / "shared" / "data" / "midi" / "example.mid"
    monkeypatch.setattr(needs_support, "SHARED_DATA", tmp_path / "shared" / "data")
    with pytest.raises(pytest.skip.Exception, match="is not beside this checkout"):
        needs_shared(missing)
    missing.parent.mkdir(parents=True)  # the shared data is here, but not this file: CI must say so
    with pytest.raises(pytest.fail.Exception, match="example.mid is not here, though the shared test data is"):
        needs_shared(missing)
    missing.write_bytes(b"MThd")
    assert needs_shared(missing) == missing
