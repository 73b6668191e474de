"""`studio train gpt` on a text file of one's own, from the command line."""

from __future__ import annotations

import json

from studio.cli import main
from studio.core.checkpoint import read_checkpoint
from studio.core.data.text import load_shakespeare
from studio.core.workspace import Workspace

TINY = ["--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=16", "--set", "block_size=16",
        "--set", "batch_size=4", "--set", "validation_windows=8"]


def test_studio_train_gpt_on_a_text_file_ends_with_a_checkpoint_and_a_validation_loss(tmp_path):
    text = tmp_path / "my text.txt"
    text.write_text(load_shakespeare().text[:20_000], encoding="utf-8")
    workspace, out = tmp_path / "ws", tmp_path / "run"
    argv = ["--workspace", str(workspace), "--device", "cpu", "train", "gpt", "--data", str(text), "--steps", "4",
            "--checkpoint-every", "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    [last_validation] = [e for e in events if e["event"] == "validation" and e["step"] == 4]
    assert 0 < last_validation["losses"]["loss"] < 10
    checkpoint = read_checkpoint(out / "checkpoint.safetensors")
    assert (checkpoint.spec, checkpoint.step, checkpoint.config["n_embd"]) == ("gpt", 4, 16)
    assert json.loads(checkpoint.config["tokenizer_json"])["kind"] == "char"
    ws = Workspace.open(workspace)
    try:
        [row] = ws.store.checkpoints(["gpt"])
        assert row["step"] == 4 and row["path"] == str((out / "checkpoint.safetensors").resolve())
    finally:
        ws.close()
