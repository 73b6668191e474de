"""What a saved text's sidecar says about the passages models wrote in it.

Each generation still in the document is one record: the model, checkpoint and
its SHA-256, the settings and seed, the end of the prompt the model was given,
the text it wrote, and where that text now is (``offset`` and ``length`` in
characters of the saved text, both only as good as the edits since allow; the
text itself is the sure part). The newest record's fields are repeated at the
top level, which is what reopening restores. A text nothing was generated in
gets a sidecar with no model fields, so no model passes for its author. No Qt here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

from studio.ui.panels.text_composer.generation import Generation

#: a record's fields about where its text is: not repeated at the sidecar's top level
PLACE = ("text", "offset", "length")


def live_record(generation: Generation, start: int, end: int) -> dict[str, Any]:
    """The record of a generation whose tokens span ``start`` to ``end`` of the document (characters)."""
    params = {k: v for k, v in generation.params.items() if k != "panel"}
    return {**params, "tokens": len(generation.texts), "text": generation.text, "offset": start,
            "length": end - start}


def live_records(document: str, spans: dict[int, tuple[int, int]],
                 generation: Callable[[int], Optional[Generation]]) -> list[dict[str, Any]]:
    """The records of the generations whose text spans ``spans`` (QTextDocument positions, by
    generation id) of ``document``, oldest first."""
    records = []
    for generation_id in sorted(spans):
        made = generation(generation_id)
        if made is not None:
            start, end = code_point_offsets(document, spans[generation_id])
            # a line break that begins or ends the generation is outside its runs' span: take the text
            # itself, when it is there, from one character before the span to one after
            found = document.find(made.text, max(0, start - 1), end + 1) if made.text else -1
            if found != -1:
                start, end = found, found + len(made.text)
            records.append(live_record(made, start, end))
    return records


def relocated(record: dict[str, Any], document: str) -> Optional[dict[str, Any]]:
    """A record from the sidecar a text was opened with, its offset moved to where its text is now
    (the occurrence nearest the old offset); None once the text is no longer in the document.
    A record without its text (an older sidecar) is kept as it was."""
    text = record.get("text")
    if not text:
        return record
    found, start = [], document.find(text)
    while start != -1:
        found.append(start)
        start = document.find(text, start + 1)
    if not found:
        return None
    old = record.get("offset") if isinstance(record.get("offset"), int) else 0
    return {**record, "offset": min(found, key=lambda at: abs(at - old)), "length": len(text)}


def merged(opened: Iterable[dict[str, Any]], live: list[dict[str, Any]], document: str) -> list[dict[str, Any]]:
    """The records of a text as it was opened (relocated), then those generated since; an opened
    record whose passage a new generation wrote again, in the same place, gives way to it."""
    taken = {(r["offset"], r["text"]) for r in live}
    kept = [r for r in (relocated(r, document) for r in opened) if r is not None]
    return [r for r in kept if (r.get("offset"), r.get("text")) not in taken] + live


def sidecar(panel: str, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sidecar of a saved text: its generations in the order they were written, the newest
    one's settings at the top level; only ``{"panel": ..., "generations": []}`` without any."""
    records = list(records)
    if not records:
        return {"panel": panel, "generations": []}
    latest = {k: v for k, v in records[-1].items() if k not in PLACE}
    return {"panel": panel, **latest, "generations": records}


def opened_records(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The generation records of a sidecar (one made of the top-level fields for an older sidecar)."""
    records = params.get("generations")
    if isinstance(records, list):
        return [r for r in records if _readable(r)]
    if params.get("model"):
        record = {k: v for k, v in params.items() if k != "panel"}
        return [record] if _readable(record) else []
    return []


def _readable(record: Any) -> bool:
    """Whether a record of a sidecar (a file that may be damaged) says where its text is in a usable way: a
    damaged one (its text not text, its offset not a number) is left out rather than breaking the next save."""
    if not isinstance(record, dict):
        return False
    offset = record.get("offset")
    return (isinstance(record.get("text", ""), str)
            and (offset is None or (isinstance(offset, int) and not isinstance(offset, bool))))


def code_point_offsets(text: str, positions: Iterable[int]) -> list[int]:
    """QTextDocument positions (UTF-16 code units) as offsets into the Python string ``text``."""
    units = text.encode("utf-16-le")
    return [len(units[:2 * p].decode("utf-16-le", errors="ignore")) for p in positions]
