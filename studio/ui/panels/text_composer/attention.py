"""The attention view: what one generated token looked at, per layer and head.

As in the book's analysis of GPT's attention, the earlier text is shown with a
background whose intensity is the weight the token's prediction gave to each
earlier token, for a chosen layer and head, or the average of the heads.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTextEdit, QToolTip, QVBoxLayout, QWidget

WEIGHT = QTextFormat.UserProperty + 10
HIGHLIGHT = QColor(40, 110, 230)
AVERAGE = -1  #: the head combo's data for "average of heads"
TOP = 5  #: how many of the most attended tokens the caption lists
CONTEXT = 4  #: characters shown either side of each of them


class AttentionView(QWidget):
    """Shows attention weights over text pieces; :meth:`weights` is what is on screen."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionView")
        self.caption = QLabel()
        self.caption.setObjectName("AttentionCaption")
        self.caption.setWordWrap(True)
        self.layer = QComboBox()
        self.layer.setObjectName("AttentionLayer")
        self.head = QComboBox()
        self.head.setObjectName("AttentionHead")
        self.text = _WeightedText()
        self.top = QLabel()
        self.top.setObjectName("AttentionTop")
        self.top.setWordWrap(True)
        choose = QHBoxLayout()
        choose.addWidget(QLabel("Layer"))
        choose.addWidget(self.layer, 1)
        choose.addWidget(QLabel("Head"))
        choose.addWidget(self.head, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(choose)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.top)
        self.pieces: list[str] = []  #: the earlier text, one piece per token
        self._attention: Optional[np.ndarray] = None
        self._token = ""
        self.layer.currentIndexChanged.connect(self._render)
        self.head.currentIndexChanged.connect(self._render)
        self.show_message("Generate some text, then click a generated token to see which earlier "
                          "tokens it attended to.")

    def show_message(self, message: str) -> None:
        """No weights to show: say why (or what to do)."""
        self._attention = None
        self.caption.setText(message)
        self.text.clear()
        self.top.clear()
        for combo in (self.layer, self.head):
            combo.setEnabled(False)

    def show_token(self, token: str, probability: float, pieces: list[str], attention: np.ndarray) -> None:
        """``attention`` is ``(layers, heads, len(pieces))``: the prediction of ``token`` over ``pieces``."""
        layers, heads = attention.shape[:2]
        self.pieces, self._attention, self._token = pieces, np.asarray(attention, dtype=np.float32), token
        self.caption.setText(f"What the model looked at to write <b>{_html(_visible(token))}</b> "
                             f"(probability {probability:.3f}) in the {len(pieces)} tokens before it: the "
                             "stronger the colour, the more attention.")
        for combo, count, items in ((self.layer, layers, [(f"Layer {i + 1}", i) for i in range(layers)]),
                                    (self.head, heads + 1, [("Average of heads", AVERAGE)]
                                     + [(f"Head {i + 1}", i) for i in range(heads)])):
            keep = combo.currentData() if combo.count() == count else None
            combo.blockSignals(True)
            combo.clear()
            for label, data in items:
                combo.addItem(label, data)
            if keep is not None:
                combo.setCurrentIndex(combo.findData(keep))
            elif combo is self.layer:
                combo.setCurrentIndex(layers - 1)  # the last layer: closest to the choice of the token
            combo.setEnabled(True)
            combo.blockSignals(False)
        self._render()

    def weights(self) -> Optional[np.ndarray]:
        """The weights shown (one per piece), for the chosen layer and head."""
        if self._attention is None or self.layer.currentIndex() < 0:
            return None
        layer = self._attention[self.layer.currentData()]
        head = self.head.currentData()
        return layer.mean(axis=0) if head in (None, AVERAGE) else layer[head]

    def _render(self) -> None:
        weights = self.weights()
        if weights is None:
            return
        self.text.show_weights(self.pieces, weights, self._token)
        order = np.argsort(weights)[::-1][:TOP]
        self.top.setText("Most attended: " + " · ".join(f"{self._in_context(i)} {weights[i]:.2f}" for i in order))

    def _in_context(self, i: int) -> str:
        """Piece ``i`` in bold between a few characters of its neighbours (a lone character says little)."""
        left = "".join(self.pieces[max(0, i - CONTEXT):i])[-CONTEXT:]
        right = "".join(self.pieces[i + 1:i + 1 + CONTEXT])[:CONTEXT]
        return "“{}<b>{}</b>{}”".format(*(_html(p.replace("\n", "↵")) for p in (left, _visible(self.pieces[i]), right)))


class _WeightedText(QTextEdit):
    """Read-only text whose pieces carry a weight: the background shows it, a tooltip tells it."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("AttentionText")
        self.setReadOnly(True)
        self.setLineWrapMode(QTextEdit.WidgetWidth)
        font = self.font()
        font.setPointSize(font.pointSize() + 2)  # as the editor's: the same text, side by side
        self.setFont(font)

    def show_weights(self, pieces: list[str], weights: np.ndarray, token: str) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        strongest = float(weights.max()) or 1.0
        for piece, weight in zip(pieces, weights, strict=True):
            fmt = QTextCharFormat()
            colour = QColor(HIGHLIGHT)
            colour.setAlpha(int(round(230 * float(weight) / strongest)))
            fmt.setBackground(colour)
            fmt.setProperty(WEIGHT, float(weight))
            cursor.insertText(piece.replace("\n", "↵\n"), fmt)  # a line break that is attended shows
        chosen = QTextCharFormat()
        chosen.setFontWeight(700)
        chosen.setFontUnderline(True)
        chosen.setForeground(QColor(170, 40, 20))
        cursor.insertText(_visible(token), chosen)
        self.ensureCursorVisible()

    def viewportEvent(self, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.ToolTip:
            cursor = self.cursorForPosition(event.pos())
            fmt = cursor.charFormat()
            if fmt.hasProperty(WEIGHT):
                QToolTip.showText(event.globalPos(), f"attention {float(fmt.property(WEIGHT)):.3f}", self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)


def _visible(piece: str) -> str:
    """A token as a label: line breaks and spaces made visible."""
    return piece.replace("\n", "↵").replace(" ", "␣") if piece.strip() == "" else piece


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
