"""Text datasets: files, folders, the bundled Shakespeare, and the validation split."""

from __future__ import annotations

import pytest

from studio.core.data import DataError, load_data
from studio.core.data.text import TextCorpus, load_shakespeare, load_text_file, load_text_folder


def test_text_file_is_read_as_utf8_with_unix_line_breaks(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_bytes("\ufeffLine one\r\nLigne deux — été 😀\r\n".encode())
    corpus = load_text_file(str(path))
    assert corpus.name == "poem"
    assert corpus.text == "Line one\nLigne deux — été 😀\n"
    assert corpus.skipped == []


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"caf\xe9 au lait", "not UTF-8 text (byte 0xe9 at offset 3)"),
])
def test_unusable_text_file_is_a_data_error(tmp_path, content, message):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_text_file(str(path))


def test_text_file_source_refuses_a_folder(tmp_path):
    with pytest.raises(DataError, match="is a folder; use the text-folder source"):
        load_text_file(str(tmp_path))


def test_text_folder_reads_text_files_recursively_and_records_the_unreadable(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "b" / "c.md").write_text("# second\n")
    (tmp_path / "b" / "latin1.txt").write_bytes(b"na\xefve")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "script.py").write_text("print('not text data')")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "notes.txt").write_text("secret")
    corpus = load_text_folder(str(tmp_path))
    assert corpus.name == tmp_path.name
    assert corpus.text == "first\n# second\n"
    assert sorted(corpus.skipped) == [
        ("b/latin1.txt", "not UTF-8 text (byte 0xef at offset 2)"),
        ("empty.txt", "empty"),
    ]


def test_text_folder_without_usable_files_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="holds no text files"):
        load_text_folder(str(tmp_path))
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="None of the 1 text files .* could be used .*bad.txt: not UTF-8"):
        load_text_folder(str(tmp_path))
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_text_folder(str(tmp_path / "bad.txt"))
    with pytest.raises(DataError, match="does not exist"):
        load_text_folder(str(tmp_path / "nowhere"))


def test_split_is_contiguous_with_the_last_tenth_for_validation():
    corpus = TextCorpus(name="digits", text="0123456789" * 10)
    split = corpus.split(seed=3)
    assert split.train == corpus.text[:90] and split.validation == corpus.text[90:]
    assert split.name == "digits"
    assert corpus.split(seed=0, fraction=0.25).validation == corpus.text[75:]
    assert TextCorpus("x", "abcd", validation_fraction=0.5).split().validation == "cd"
    with pytest.raises(DataError, match="validation fraction"):
        corpus.split(fraction=1.0)


def test_bundled_shakespeare_works_out_of_the_box():
    corpus = load_shakespeare()
    assert 200_000 <= len(corpus.text.encode()) <= 300_000
    assert corpus.text.startswith("First Citizen:")
    split = corpus.split(0)
    assert len(split.train) + len(split.validation) == len(corpus.text)
    with pytest.raises(DataError, match="takes no location"):
        load_shakespeare("/somewhere")


def test_text_sources_are_registered_and_loadable(tmp_path):
    from studio.core.plugins import discover

    registry = discover().registry
    assert load_data(registry, "text", "shakespeare", None).name == "shakespeare"
    (tmp_path / "mine.txt").write_text("my own words\n")
    assert load_data(registry, "text", str(tmp_path / "mine.txt"), None).text == "my own words\n"
    assert load_data(registry, "text", f"text-folder:{tmp_path}", None).text == "my own words\n"
