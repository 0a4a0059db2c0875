"""Where each face's label and panels go: a greedy placer that never covers another face or another label.

Every text item the overlay draws (a face's label, probability bars, valence/arousal tag, sparklines, the HUD) is a
rectangle placed by one :class:`Placer` per frame. A rectangle is put in the first free *slot* of its list: a side
of an anchor (the face's box, or an item already placed for the same face) with an alignment along that side, moved
inside the image. It is free when it keeps at least ``sep`` pixels from every other face's box and every other
face's items, and does not cross its own face's box or items (a label may, as a last resort, sit inside its own
box). When no slot is free, smaller variants are tried (smaller text, fewer rows); when none fits, the item is left
out, so a crowded frame collapses to boxes and one-line labels rather than a pile of text.

Geometry only, no drawing: cheap enough for every frame (a few dozen rectangle tests per item).

>>> placer = Placer(640, 360, [(100, 80, 220, 230), (230, 80, 330, 230)])
>>> placer.place("label", 0, [(90, 16)], LABEL_SLOTS).rect
(100, 64, 190, 80)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Rect = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in image pixels, exclusive ends (a rectangle covers columns x1 .. x2 - 1)."""

SIDES = ("above", "below", "right", "left", "inside")
ALIGNS = ("start", "end", "center", "before", "after")
"""Positions along an anchor's side: flush with its start (left or top) or end, centred, or sticking out before the
start or after the end by two thirds of the item."""


@dataclass(frozen=True)
class Slot:
    """A position relative to an anchor: ``side`` of the anchor ``anchor`` (``"box"`` or the kind of an item of the
    same face), aligned ``align`` along that side; ``name`` is ``"anchor:side:align"``."""

    anchor: str
    side: str
    align: str = "start"
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.anchor}:{self.side}:{self.align}")


@dataclass(frozen=True)
class Placed:
    """One placed item.

    Attributes:
        kind: what it is (``"label"``, ``"bars"``, ``"va"``, ``"sparklines"``, ``"hud"``, ``"va_plane"``).
        face: index of its face in ``result.faces``; -1 for items of the whole frame (HUD, plane).
        rect: where it is, :data:`Rect` in image pixels.
        variant: index of the size variant used (0 = the largest).
        slot: the :attr:`Slot.name` it took (empty for reserved regions).
    """

    kind: str
    face: int
    rect: Rect
    variant: int = 0
    slot: str = ""


def intersects(a: Rect, b: Rect, margin: int = 0) -> bool:
    """True when ``a`` grown by ``margin`` pixels on every side and ``b`` share at least one pixel."""
    return a[0] - margin < b[2] and b[0] < a[2] + margin and a[1] - margin < b[3] and b[1] < a[3] + margin


def _slots(anchor: str, sides: Sequence[str], aligns: Sequence[str]) -> tuple[Slot, ...]:
    return tuple(Slot(anchor, side, align) for side in sides for align in aligns)


LABEL_SLOTS: tuple[Slot, ...] = (
    *_slots("box", ("above",), ALIGNS),
    *_slots("box", ("below",), ALIGNS),
    *_slots("box", ("right", "left"), ("start", "end")),
    Slot("box", "inside", "start"),
)
"""A label: on top of the box, else under it, else beside it, else inside its top edge (over its own face only)."""

VA_SLOTS: tuple[Slot, ...] = (
    *_slots("box", ("below",), ALIGNS),
    *_slots("bars", ("below",), ("start",)),
    *_slots("box", ("right", "left"), ("end", "start")),
    *_slots("label", ("above",), ("start", "end")),
)
"""The valence/arousal tag: under the box, else beside it, else above the label."""

SPARKLINE_SLOTS: tuple[Slot, ...] = (
    *_slots("va", ("below",), ("start", "end")),
    *_slots("box", ("below",), ALIGNS),
    *_slots("va", ("above", "right", "left"), ("start",)),
    *_slots("bars", ("below",), ("start",)),
    *_slots("box", ("right", "left"), ("end", "start")),
)
"""Sparklines: under the valence/arousal tag, else under the box, else next to the tag or box."""

BARS_SLOTS: tuple[Slot, ...] = (
    *_slots("box", ("right", "left"), ("start", "center", "end")),
    *_slots("label", ("right", "left"), ("start",)),
    *_slots("box", ("below", "above"), ("start", "end", "center")),
    *_slots("va", ("below", "right", "left"), ("start",)),
    *_slots("sparklines", ("below",), ("start",)),
)
"""The probability panel: beside the box (right first), else beside the label, else under or over the box."""

HUD_SLOTS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
"""The HUD's corners, in order of preference."""


class Placer:
    """Places rectangles on a ``width`` x ``height`` image around face ``boxes`` without covering other faces.

    Args:
        width, height: image size in pixels.
        boxes: each face's box (:data:`Rect`, image pixels), or None for a face that is not drawn (it blocks nothing
            and gets nothing).
        sep: minimum gap in pixels between an item and anything of another face (box or item) or of the frame.
        margin: default distance in pixels between an item and the anchor side it is put on.

    Attributes:
        placed: every item placed so far, in order.
    """

    def __init__(self, width: int, height: int, boxes: Sequence[Rect | None], sep: int = 2, margin: int = 0) -> None:
        self.width = int(width)
        self.height = int(height)
        self.boxes = list(boxes)
        self.sep = int(sep)
        self.margin = int(margin)
        self.placed: list[Placed] = []
        self._items: dict[int, dict[str, Rect]] = {}
        # Obstacles: (rect, owner face or -1, is a face box); face boxes first, then items as they are placed.
        self._obstacles: list[tuple[Rect, int, bool]] = [(b, i, True) for i, b in enumerate(self.boxes) if b]

    def visible(self, face: int) -> bool:
        """Whether face ``face`` has a box that covers at least one pixel of the image."""
        box = self.boxes[face]
        return box is not None and box[2] > 0 and box[3] > 0 and box[0] < self.width and box[1] < self.height

    def item(self, face: int, kind: str) -> Rect | None:
        """The rectangle of ``face``'s item ``kind`` placed so far, or None."""
        return self._items.get(face, {}).get(kind)

    def reserve(self, kind: str, rect: Rect) -> Placed:
        """Take ``rect`` for a frame item (e.g. an inset) whatever it covers; later items keep clear of it."""
        placed = Placed(kind, -1, rect)
        self.placed.append(placed)
        self._obstacles.append((rect, -1, False))
        return placed

    def fits(self, rect: Rect, face: int, cover_own_box: bool = False) -> bool:
        """Whether ``rect`` (inside the image) is free for an item of ``face`` (-1: a frame item)."""
        if rect[0] < 0 or rect[1] < 0 or rect[2] > self.width or rect[3] > self.height:
            return False
        for obstacle, owner, is_box in self._obstacles:
            if owner == face and face >= 0:
                if cover_own_box and is_box:
                    continue
                if intersects(rect, obstacle):
                    return False
            elif intersects(rect, obstacle, self.sep):
                return False
        return True

    def place(
        self,
        kind: str,
        face: int,
        sizes: Sequence[tuple[int, int]],
        slots: Sequence[Slot],
        *,
        preferred: str | None = None,
        gap: int | None = None,
    ) -> Placed | None:
        """Put ``face``'s item ``kind`` in the first free slot, trying its size variants largest first.

        Args:
            kind: the item's kind (anchors of later items of the same face name it).
            face: index of the face.
            sizes: ``(width, height)`` of each variant, in order of preference.
            slots: where to try, in order of preference; slots whose anchor the face lacks are skipped.
            preferred: a :attr:`Slot.name` to try first for every variant (e.g. where the item was on the last
                frame, so that it does not jump about).
            gap: pixels between the item and its anchor (default: the placer's ``margin``).

        Returns:
            The :class:`Placed` item, or None when no variant fits anywhere.
        """
        if not self.visible(face):
            return None
        ordered: Sequence[Slot] = slots
        if preferred is not None:
            for index, slot in enumerate(slots):
                if slot.name == preferred:
                    ordered = [slot, *slots[:index], *slots[index + 1 :]]
                    break
        for variant, (w, h) in enumerate(sizes):
            if w <= 0 or h <= 0 or w > self.width or h > self.height:
                continue
            for slot in ordered:
                anchor = self.boxes[face] if slot.anchor == "box" else self.item(face, slot.anchor)
                if anchor is None:
                    continue
                x, y = self._position(anchor, slot, w, h, self.margin if gap is None else gap)
                rect = (x, y, x + w, y + h)
                if self.fits(rect, face, cover_own_box=slot.side == "inside"):
                    return self._add(Placed(kind, face, rect, variant, slot.name))
        return None

    def place_corner(self, kind: str, size: tuple[int, int], inset: int, preferred: str | None = None) -> Placed | None:
        """Put a frame item of ``size`` (width, height) in the first free corner of :data:`HUD_SLOTS`, ``inset``
        pixels from the borders; None when every corner would cover a face or an item."""
        w, h = size
        corners = list(HUD_SLOTS)
        if preferred in corners:
            corners.remove(preferred)
            corners.insert(0, preferred)
        for corner in corners:
            x = inset if corner.endswith("left") else self.width - inset - w
            y = inset if corner.startswith("top") else self.height - inset - h
            rect = (x, y, x + w, y + h)
            if self.fits(rect, -1):
                return self._add(Placed(kind, -1, rect, 0, corner))
        return None

    def _add(self, placed: Placed) -> Placed:
        self.placed.append(placed)
        self._obstacles.append((placed.rect, placed.face, False))
        if placed.face >= 0:
            self._items.setdefault(placed.face, {})[placed.kind] = placed.rect
        return placed

    def _position(self, anchor: Rect, slot: Slot, w: int, h: int, gap: int) -> tuple[int, int]:
        """Top-left corner of a ``w`` x ``h`` item in ``slot`` of ``anchor``, ``gap`` pixels away, moved inside the
        image."""
        x1, y1, x2, y2 = anchor
        if slot.side in ("above", "below", "inside"):
            x = _along(x1, x2, w, slot.align)
            y = y1 - gap - h if slot.side == "above" else y2 + gap if slot.side == "below" else max(y1, 0)
        else:
            y = _along(y1, y2, h, slot.align)
            x = x2 + gap if slot.side == "right" else x1 - gap - w
        return min(max(x, 0), self.width - w), min(max(y, 0), self.height - h)


def _along(start: int, end: int, size: int, align: str) -> int:
    """Start coordinate of an item of ``size`` along an anchor side from ``start`` to ``end`` (exclusive)."""
    if align == "end":
        return end - size
    if align == "center":
        return (start + end - size) // 2
    if align == "before":
        return start - (2 * size) // 3
    if align == "after":
        return end - size // 3
    return start


def overlapping(placed: Sequence[Placed], boxes: Sequence[Rect | None]) -> list[str]:
    """Every overlap that the layout promises not to make, as readable strings (empty when there is none).

    Checks each item against every other face's box, every other item, and, except labels (which may sit inside
    their own box as a last resort), its own face's box. Used by tests and for debugging a layout.
    """
    problems = []
    for a_index, a in enumerate(placed):
        for face, box in enumerate(boxes):
            if box is None or (face == a.face and a.kind == "label"):
                continue
            if intersects(a.rect, box):
                problems.append(f"{a.kind} of face {a.face} {a.rect} covers the box of face {face} {box}")
        for b in placed[a_index + 1 :]:
            if intersects(a.rect, b.rect):
                problems.append(f"{a.kind} of face {a.face} {a.rect} covers {b.kind} of face {b.face} {b.rect}")
    return problems
