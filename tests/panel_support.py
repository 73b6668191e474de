"""Driving a panel's state without a window or a trained model: a fake inference thread that runs
requests in the test's own thread when told to, a registry of fake models, and a catalogue in a
temporary folder."""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from studio import hookimpl
from studio.core.capabilities import Cancelled
from studio.core.errors import UserError
from studio.core.plugins import PluginHost
from studio.core.specs import ModelSpec
from studio.core.store import Store


@dataclass
class FakeRequest:
    model: Any
    fn: Callable
    key: Optional[str]
    on_result: Optional[Callable]
    on_error: Optional[Callable]
    on_step: Optional[Callable]
    on_cancelled: Optional[Callable]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeContext:
    def __init__(self, request: FakeRequest) -> None:
        self.request = request
        self.device = "cpu"

    @property
    def cancelled(self) -> bool:
        return self.request.cancelled

    def step(self, step: int, total: int, preview: Any = None) -> None:
        if self.request.cancelled:
            raise Cancelled()
        if self.request.on_step:
            self.request.on_step(step, total, preview)


@dataclass
class FakeExecutor:
    """Requests wait in :attr:`queue` until :meth:`run` runs them, in order, as the inference
    thread would (newest wins by key; errors become ``on_error``). ``models`` maps a checkpoint
    path to the model object a request on it gets."""

    models: dict[str, Any] = field(default_factory=dict)
    queue: list[FakeRequest] = field(default_factory=list)
    unloaded: list[Any] = field(default_factory=list)
    ran: list[FakeRequest] = field(default_factory=list)
    current: Optional[FakeRequest] = None

    def submit(self, model, fn, *, key=None, on_result=None, on_error=None, on_step=None, on_cancelled=None):
        request = FakeRequest(model, fn, key, on_result, on_error, on_step, on_cancelled)
        if key is not None:
            for old in [r for r in self.queue if r.key == key]:
                self.queue.remove(old)
                old.cancel()
                if old.on_cancelled:
                    old.on_cancelled()
            if self.current is not None and self.current.key == key:
                self.current.cancel()
        self.queue.append(request)
        return request

    def unload(self, ref) -> None:
        self.unloaded.append(ref)

    def run(self, limit: int = 1000) -> None:
        """Run what is queued, and what their callbacks queue, until nothing is left."""
        while self.queue and limit:
            limit -= 1
            self.run_one()

    def run_one(self) -> None:
        request = self.current = self.queue.pop(0)
        self.ran.append(request)
        try:
            if request.cancelled:
                raise Cancelled()
            model = self.models[request.model.checkpoint] if request.model is not None else None
            result = request.fn(model, FakeContext(request))
        except Cancelled:
            self.current = None
            if request.on_cancelled:
                request.on_cancelled()
            return
        except UserError as exc:
            self.current = None
            request.on_error(str(exc), "")
            return
        except Exception as exc:
            self.current = None
            request.on_error(f"Unexpected error: {type(exc).__name__}: {exc}", traceback.format_exc())
            return
        self.current = None
        if request.cancelled:
            if request.on_cancelled:
                request.on_cancelled()
        elif request.on_result:
            request.on_result(result)


@dataclass
class FakeConfig:
    size: int = 1


class Bench:
    """A registry with fake model specs, a catalogue, and a fake executor: what a state needs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.host = PluginHost()
        self.registry = self.host.registry
        self.store = Store.open(folder / "catalogue.sqlite")
        self.executor = FakeExecutor()

    def add_spec(self, name: str, capabilities: tuple[str, ...], **fields: Any) -> ModelSpec:
        spec = ModelSpec(name=name, title=fields.pop("title", name.title()), family="test", capabilities=capabilities,
                         config=FakeConfig, factory="builtins:object", **fields)

        class Plugin:
            @hookimpl
            def studio_register_models(self, register):
                register(spec)

        info = self.host.add(Plugin(), f"plugin-{name}", version="1.0")
        assert info.status == "loaded", info.error
        return dataclasses.replace(spec, plugin=f"plugin-{name}", plugin_version="1.0")

    def add_model(self, spec: str, model: Any, name: str = "model", step: int = 10, content: bytes = b"") -> str:
        """Catalogue a checkpoint file of ``spec`` (its bytes stand for the weights) that runs ``model``."""
        path = self.folder / "runs" / name / "checkpoint.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content or f"weights of {name}".encode())
        self.store.add_checkpoint(spec, str(path), step)
        self.executor.models[str(path)] = model
        return str(path)


@pytest.fixture
def bench(tmp_path):
    made = Bench(tmp_path)
    yield made
    made.store.close()
