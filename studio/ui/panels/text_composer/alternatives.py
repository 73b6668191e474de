"""Alternatives: a few continuations side by side, each from its own seed, to pick from.

The model writes them a token of each in turn, so the cards fill together."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.ui.panels.text_composer.state import COUNT


class AlternativesView(QWidget):
    """``COUNT`` read-only cards filled as tokens stream; *Use this* emits :attr:`picked`."""

    picked = Signal(int)  #: the index of the chosen card

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("Alternatives")
        self.caption = QLabel("<b>Alternatives</b>: press Alternatives to write a few continuations of the text "
                              "before the cursor, each with its own seed, and pick the one to keep.")
        self.caption.setWordWrap(True)
        self.seeds: list[QLabel] = []
        self.texts: list[QPlainTextEdit] = []
        self.buttons: list[QPushButton] = []
        row = QHBoxLayout()
        for index in range(COUNT):
            card = QFrame()
            card.setFrameShape(QFrame.StyledPanel)
            seed = QLabel()
            text = QPlainTextEdit()
            text.setReadOnly(True)
            text.setObjectName(f"Alternative{index}")
            button = QPushButton("Use this")
            button.setObjectName(f"UseAlternative{index}")
            button.setToolTip("Insert this continuation at the cursor")
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, i=index: self.picked.emit(i))
            column = QVBoxLayout(card)
            column.setContentsMargins(6, 4, 6, 4)
            column.addWidget(seed)
            column.addWidget(text, 1)
            column.addWidget(button)
            row.addWidget(card, 1)
            self.seeds.append(seed)
            self.texts.append(text)
            self.buttons.append(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(row, 1)

    def begin(self, first_seed: int, greedy: bool) -> None:
        """Empty the cards for a new round with seeds ``first_seed, first_seed + 1, ...``."""
        note = (" At temperature 0 every seed writes the same text: raise the temperature to see different "
                "ones." if greedy else "")
        self.caption.setText(f"<b>Alternatives</b>: writing {COUNT} continuations of the text before the "
                             f"cursor.{note}")
        for index, (seed, text, button) in enumerate(zip(self.seeds, self.texts, self.buttons, strict=True)):
            seed.setText(f"Seed {first_seed + index}")
            text.clear()
            text.setPlaceholderText("Waiting for the model…")
            button.setEnabled(False)

    def append(self, index: int, piece: str) -> None:
        """Add to a card without scrolling it: each card keeps showing its beginning."""
        end = QTextCursor(self.texts[index].document())
        end.movePosition(QTextCursor.End)
        end.insertText(piece)

    def finish(self, done: bool) -> None:
        """The round ended (``done``) or was cancelled: the cards with text can be picked."""
        for text, button in zip(self.texts, self.buttons, strict=True):
            button.setEnabled(bool(text.toPlainText()))
            text.setPlaceholderText("")
        self.caption.setText("<b>Alternatives</b>: pick the continuation to insert at the cursor." if done else
                             "<b>Alternatives</b>: cancelled; the continuations so far can still be picked.")

    def text(self, index: int) -> str:
        return self.texts[index].toPlainText()
