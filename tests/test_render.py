"""Tests of affectlens.render on synthetic frames and hand-built Faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from affectlens.core import NUM_KEYPOINTS, Faces, Frame, FrameResult
from affectlens.emotions import EMOTIONS
from affectlens.render import (
    ELEMENTS,
    EMOTION_COLORS,
    UNKNOWN_COLOR,
    BoxAnnotator,
    HudAnnotator,
    LabelAnnotator,
    Overlay,
    ProbabilityBarsAnnotator,
    SparklineAnnotator,
    ValenceArousalAnnotator,
    ValenceArousalPlaneAnnotator,
    emotion_color,
)
from affectlens.render.colors import text_color_on
from affectlens.render.layout import layout_for, text_size
from helpers import shared_path

GREY = 100  # background level of test images: not a palette colour, so every drawn pixel differs from it


def make_result(
    boxes: list[list[float]],
    top: list[str] | None = None,
    labels: tuple[str, ...] = EMOTIONS,
    va: list[list[float]] | None = None,
    track_ids: list[int] | None = None,
    size: tuple[int, int] = (360, 640),
    timings_ms: dict[str, float] | None = None,
) -> FrameResult:
    """A FrameResult on a uniform grey (H, W) image; ``top`` gives each face's most probable label (0.8)."""
    n = len(boxes)
    image = np.full((*size, 3), GREY, np.uint8)
    faces = Faces(
        xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        score=np.full(n, 0.9, np.float32),
        keypoints=np.zeros((n, NUM_KEYPOINTS, 2), np.float32),
        track_id=None if track_ids is None else np.asarray(track_ids),
    )
    if top is not None:
        probs = np.full((n, len(labels)), 0.2 / max(len(labels) - 1, 1), np.float32)
        for i, name in enumerate(top):
            probs[i, labels.index(name)] = 0.8
        values = np.zeros((n, 2), np.float32) if va is None else np.asarray(va, np.float32)
        faces = faces.with_emotions(probs, values, labels)
    return FrameResult(Frame(image, 0, 0.0), faces, timings_ms=timings_ms or {})


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W) bool mask of pixels that differ."""
    return (before != after).any(axis=2)


def bbox_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` inclusive bounds of the True pixels of ``mask``."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


ALL_ANNOTATORS = [
    BoxAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
    HudAnnotator,
    SparklineAnnotator,
    ValenceArousalPlaneAnnotator,
]


def test_palette_has_one_distinct_colour_per_emotion() -> None:
    assert set(EMOTION_COLORS) == set(EMOTIONS)
    colours = list(EMOTION_COLORS.values())
    assert len(set(colours)) == len(colours)
    assert UNKNOWN_COLOR not in colours
    assert emotion_color("Happiness") == EMOTION_COLORS["happy"]
    assert emotion_color("not-an-emotion") == UNKNOWN_COLOR
    assert emotion_color("") == UNKNOWN_COLOR
    assert text_color_on(EMOTION_COLORS["happy"]) == (0, 0, 0)
    assert text_color_on(EMOTION_COLORS["sad"]) == (255, 255, 255)


@pytest.mark.parametrize("emotion", ["happy", "angry", "neutral"])
def test_box_edges_take_the_emotion_colour(emotion: str) -> None:
    result = make_result([[100, 80, 220, 230]], top=[emotion])
    image = result.frame.image.copy()
    out = BoxAnnotator().annotate(image, result)
    assert out is image and out.shape == (360, 640, 3) and out.dtype == np.uint8
    colour = EMOTION_COLORS[emotion]
    assert tuple(out[150, 100]) == colour  # left edge
    assert tuple(out[80, 160]) == colour  # top edge
    assert tuple(out[229, 160]) == colour  # bottom edge (inclusive end of the box)
    assert tuple(out[150, 219]) == colour  # right edge
    assert tuple(out[150, 160]) == (GREY,) * 3  # inside untouched
    assert bbox_of(changed(result.frame.image, out)) == (100, 80, 219, 229)


def test_overlay_keeps_shape_dtype_and_colours_the_box() -> None:
    result = make_result([[100, 80, 220, 230]], top=["sad"], va=[[0.42, -0.1]], track_ids=[3], timings_ms={"total": 4})
    image = result.frame.image.copy()
    out = Overlay().annotate(image, result, fps=150.0)
    assert out is image and out.shape == (360, 640, 3) and out.dtype == np.uint8
    assert tuple(out[150, 100]) == EMOTION_COLORS["sad"]
    assert not np.array_equal(out, result.frame.image)


def test_unknown_top_label_is_grey() -> None:
    result = make_result([[100, 80, 220, 230]], top=["mystery"], labels=("happy", "mystery"))
    out = BoxAnnotator().annotate(result.frame.image.copy(), result)
    assert tuple(out[150, 100]) == UNKNOWN_COLOR


def test_empty_faces_change_only_the_hud_region() -> None:
    result = FrameResult(Frame(np.full((360, 640, 3), GREY, np.uint8), 0, 0.0), Faces.empty(EMOTIONS))
    overlay = Overlay()
    out = overlay.annotate(result.frame.image.copy(), result, fps=99.0)
    assert overlay.hud is not None and overlay.hud.last_region is not None
    x1, y1, x2, y2 = overlay.hud.last_region
    diff = changed(result.frame.image, out)
    assert diff.any()
    assert not diff[:y1].any() and not diff[y2:].any() and not diff[:, :x1].any() and not diff[:, x2:].any()
    assert x2 < 640 // 2 and y2 < 360 // 4  # a compact top-left strip

    out = Overlay(hud=False).annotate(result.frame.image.copy(), result)
    assert np.array_equal(out, result.frame.image)


def test_unclassified_faces_get_grey_boxes_and_no_bars_or_va() -> None:
    result = make_result([[100, 80, 220, 230], [300, 50, 400, 180]], track_ids=[7, -1])
    assert result.faces.labels == ()
    for annotator in (ProbabilityBarsAnnotator(), ValenceArousalAnnotator()):
        out = annotator.annotate(result.frame.image.copy(), result)
        assert np.array_equal(out, result.frame.image)
    out = Overlay().annotate(result.frame.image.copy(), result)
    assert tuple(out[150, 100]) == UNKNOWN_COLOR
    assert LabelAnnotator().text(result) == ["face #7", "face"]


def test_label_text_and_placement() -> None:
    result = make_result([[100, 80, 220, 230], [300, 0, 400, 100]], top=["happy", "fear"], track_ids=[3, -1])
    assert LabelAnnotator().text(result) == ["happy 80% #3", "fear 80%"]
    assert LabelAnnotator(show_confidence=False, show_track_id=False).text(result) == ["happy", "fear"]
    out = LabelAnnotator().annotate(result.frame.image.copy(), result)
    diff = changed(result.frame.image, out)
    x1, y1, _, y2 = bbox_of(diff[:, :250])
    assert y2 == 79 and x1 == 100  # above the first box, sitting on its top edge
    # The second box touches the top: its tag goes under the box rather than over the face.
    x1, y1, _, _ = bbox_of(diff[:, 290:])
    assert y1 == 100 and x1 + 290 == 300
    assert tuple(out[101, 301]) == EMOTION_COLORS["fear"]
    # A face filling the whole image: the tag goes inside its top edge, the only place left.
    full = make_result([[0, 0, 640, 360]], top=["sad"])
    labels = LabelAnnotator()
    labels.annotate(full.frame.image.copy(), full)
    assert [(p.slot, p.rect[:2]) for p in labels.last_placed] == [("box:inside:start", (0, 0))]


def test_label_stays_inside_the_image_at_the_right_edge() -> None:
    result = make_result([[600, 100, 640, 150]], top=["contempt"], track_ids=[12345])
    out = LabelAnnotator().annotate(result.frame.image.copy(), result)
    x1, _, x2, _ = bbox_of(changed(result.frame.image, out))
    assert x2 == 639 and x1 < 600  # shifted left to fit


def test_bars_go_right_or_left_of_the_box() -> None:
    bars = ProbabilityBarsAnnotator()
    right = make_result([[100, 80, 200, 230]], top=["happy"])
    diff = changed(right.frame.image, bars.annotate(right.frame.image.copy(), right))
    x1, y1, _, _ = bbox_of(diff)
    assert x1 > 200 and y1 == 80

    left = make_result([[560, 80, 635, 230]], top=["happy"])
    diff = changed(left.frame.image, bars.annotate(left.frame.image.copy(), left))
    _, _, x2, _ = bbox_of(diff)
    assert x2 < 560


def test_bar_lengths_follow_probabilities() -> None:
    result = make_result([[100, 80, 200, 230]], top=["angry"])
    out = ProbabilityBarsAnnotator().annotate(result.frame.image.copy(), result)
    angry = np.all(out == EMOTION_COLORS["angry"], axis=2)
    happy = np.all(out == EMOTION_COLORS["happy"], axis=2)
    assert angry.sum() > 3 * happy.sum() > 0  # 0.8 against 0.2 / 7


def test_va_text_and_nan_skip() -> None:
    result = make_result(
        [[100, 80, 220, 230], [300, 80, 420, 230]], top=["happy", "sad"], va=[[0.4, -0.1], [math.nan, 0.2]]
    )
    out = ValenceArousalAnnotator().annotate(result.frame.image.copy(), result)
    diff = changed(result.frame.image, out)
    x1, y1, x2, _ = bbox_of(diff)
    assert y1 == 230 and x1 == 100 and x2 < 300  # under the first box only: the NaN face is skipped
    # At the bottom of the image, the tag moves inside the box.
    low = make_result([[100, 250, 220, 360]], top=["happy"], va=[[0.4, -0.1]])
    diff = changed(low.frame.image, ValenceArousalAnnotator().annotate(low.frame.image.copy(), low))
    _, y1, _, y2 = bbox_of(diff)
    assert y2 <= 359 and y1 < 360


EDGE_BOXES = [
    [-50, -40, 80, 90],  # top-left, partly outside
    [590, 300, 720, 420],  # bottom-right, partly outside
    [-500, 50, -400, 150],  # wholly outside
    [200, 100, 180, 90],  # reversed corners
    [300, 200, 300, 200],  # zero size
    [1e12, -1e12, np.inf, 3],  # absurd
    [np.nan, 10, 40, 40],  # non-finite
]


@pytest.mark.parametrize("size", [(360, 640), (64, 64), (8, 8), (1, 1), (0, 0), (10, 0)])
def test_edge_cases_do_not_crash(size: tuple[int, int]) -> None:
    n = len(EDGE_BOXES)
    va = [[0.5, -0.5]] * (n - 1) + [[math.nan, math.nan]]
    classified = make_result(EDGE_BOXES, top=["happy"] * n, va=va, track_ids=list(range(n)), size=size)
    unclassified = make_result(EDGE_BOXES, size=size)
    for result in (classified, unclassified):
        for annotator in ALL_ANNOTATORS:
            out = annotator().annotate(result.frame.image.copy(), result)
            assert out.shape == (*size, 3) and out.dtype == np.uint8
        for overlay in (Overlay(), Overlay(va_plane=True)):
            out = overlay.annotate(result.frame.image.copy(), result, fps=float("nan"), latency_ms=float("inf"))
            assert out.shape == (*size, 3)
        # Drawing on an image of another size than the frame's (boxes are rescaled, even from an empty frame).
        other = np.zeros((48, 80, 3), np.uint8)
        assert Overlay(va_plane=True).annotate(other, result, fps=1.0) is other


def test_tiny_image_draws_the_box() -> None:
    result = make_result([[8, 8, 56, 56]], top=["surprise"], va=[[0.1, 0.2]], size=(64, 64))
    out = Overlay().annotate(result.frame.image.copy(), result, fps=30.0)
    assert tuple(out[40, 8]) == EMOTION_COLORS["surprise"]
    # The probability panel does not fit in 64x64: it is left out rather than drawn over the face.
    assert np.array_equal(ProbabilityBarsAnnotator().annotate(result.frame.image.copy(), result), result.frame.image)


def test_partly_outside_box_keeps_a_visible_border() -> None:
    result = make_result([[-50, 100, 80, 200]], top=["disgust"])
    out = BoxAnnotator().annotate(result.frame.image.copy(), result)
    assert tuple(out[150, 0]) == EMOTION_COLORS["disgust"]  # clipped at the image's left border
    assert tuple(out[150, 79]) == EMOTION_COLORS["disgust"]


def test_boxes_are_rescaled_to_a_resized_image() -> None:
    result = make_result([[100, 80, 220, 230]], top=["happy"])
    small = cv2.resize(result.frame.image, (320, 180))
    out = BoxAnnotator().annotate(small, result)
    assert bbox_of(changed(np.full_like(small, GREY), out)) == (50, 40, 109, 114)


def test_hud_text_sources() -> None:
    result = make_result([[100, 80, 220, 230]], top=["happy"], timings_ms={"total": 6.64})
    hud = HudAnnotator()
    assert hud.text(result) == "6.6 ms  1 face"
    hud.set_fps(151.26)
    assert hud.text(result) == "151.3 fps  6.6 ms  1 face"
    assert hud.text(result, fps=20.0, latency_ms=1.0) == "20.0 fps  1.0 ms  1 face"
    assert HudAnnotator(show_faces=False).text(make_result([])) == ""
    overlay = Overlay()
    overlay.set_fps(12.0)
    assert overlay.hud is not None and overlay.hud.text(make_result([[0, 0, 1, 1]] * 2)) == "12.0 fps  2 faces"


def test_overlay_flags_compose() -> None:
    result = make_result([[100, 80, 220, 230]], top=["happy"], va=[[0.4, -0.1]], timings_ms={"total": 3.0})
    only_boxes = Overlay(labels=False, bars=False, va=False, hud=False).annotate(result.frame.image.copy(), result)
    assert np.array_equal(only_boxes, BoxAnnotator().annotate(result.frame.image.copy(), result))
    full = Overlay().annotate(result.frame.image.copy(), result, fps=60.0)
    assert changed(result.frame.image, full).sum() > changed(result.frame.image, only_boxes).sum()


def test_render_leaves_the_frame_untouched(tmp_path) -> None:
    result = make_result(
        [[100, 80, 220, 230], [400, 60, 500, 190]],
        top=["happy", "angry"],
        va=[[0.4, -0.1], [-0.6, 0.7]],
        track_ids=[1, 2],
        timings_ms={"total": 5.0},
    )
    before = result.frame.image.copy()
    out = Overlay().render(result, fps=150.0)
    assert np.array_equal(result.frame.image, before) and out is not result.frame.image
    assert cv2.imwrite(str(tmp_path / "overlay_demo.png"), out)


def test_rejects_images_it_cannot_draw_on() -> None:
    result = make_result([[10, 10, 50, 50]], top=["happy"])
    with pytest.raises(ValueError, match="uint8"):
        BoxAnnotator().annotate(np.zeros((360, 640), np.uint8), result)
    with pytest.raises(ValueError, match="uint8"):
        Overlay().annotate(np.zeros((360, 640, 3), np.float32), result)
    frozen = np.zeros((360, 640, 3), np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        LabelAnnotator().annotate(frozen, result)


def test_faces_wholly_outside_draw_nothing() -> None:
    result = make_result([[-500, 50, -400, 150], [700, 50, 800, 150]], top=["happy", "sad"], track_ids=[1, 2])
    out = Overlay(hud=False).annotate(result.frame.image.copy(), result)
    assert np.array_equal(out, result.frame.image)


# --- Layout: no label or panel over another face, another label, or off the image ------------------------------


def crowd(n_rows: int, n_cols: int, side: int, gap: int, size: tuple[int, int] = (360, 640)) -> list[list[float]]:
    """``n_rows`` x ``n_cols`` square face boxes of ``side`` px, ``gap`` px apart, from (10, 10)."""
    return [
        [10 + c * (side + gap), 10 + r * (side + gap), 10 + c * (side + gap) + side, 10 + r * (side + gap) + side]
        for r in range(n_rows)
        for c in range(n_cols)
    ]


def random_boxes(seed: int, n: int, size: tuple[int, int] = (360, 640)) -> list[list[float]]:
    """``n`` face boxes at random places and sizes, some overlapping each other or the border."""
    rng = np.random.default_rng(seed)
    height, width = size
    sides = rng.uniform(20, 120, n)
    x = rng.uniform(-20, width - 10, n)
    y = rng.uniform(-20, height - 10, n)
    return np.stack([x, y, x + sides, y + sides * 1.2], axis=1).tolist()


SCENES = {
    "side by side": [[100, 80, 200, 230], [215, 80, 315, 230]],
    "small face, tag wider than the box": [[300, 150, 340, 190]],
    "three in a row near the bottom": [[60, 250, 160, 350], [170, 250, 270, 350], [280, 250, 380, 350]],
    "stacked": [[200, 20, 280, 100], [200, 130, 280, 210], [200, 240, 280, 320]],
    "group of five": [[222, 78, 321, 177], [314, 252, 417, 355], [433, 224, 521, 312], [529, 322, 644, 437]],
    "crowd of 30": crowd(5, 6, 50, 40),
    **{f"random {seed}": random_boxes(seed, 3 + seed % 9) for seed in range(12)},
}


def scene_result(boxes: list[list[float]], index: int = 0) -> FrameResult:
    n = len(boxes)
    tops = [EMOTIONS[i % len(EMOTIONS)] for i in range(n)]
    va = [[0.3 * ((i % 5) - 2), 0.2] for i in range(n)]
    result = make_result(boxes, top=tops, va=va, track_ids=list(range(n)), timings_ms={"total": 7.5})
    return FrameResult(Frame(result.frame.image, index, index * 40.0), result.faces, result.timings_ms)


def overlapping(placed: list, boxes: list) -> list[str]:
    from affectlens.render import overlapping as check  # imported here: the other tests run without it

    return check(placed, boxes)


def assert_clean_layout(overlay: Overlay, height: int = 360, width: int = 640) -> None:
    """Nothing the overlay placed covers another face or another item, and everything is inside the image."""
    assert overlapping(overlay.last_placed, overlay.last_boxes) == []
    for placed in overlay.last_placed:
        x1, y1, x2, y2 = placed.rect
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, placed


@pytest.mark.parametrize("scene", list(SCENES))
def test_no_label_or_panel_covers_another_face_or_each_other(scene: str) -> None:
    overlay = Overlay(va_plane=True)
    for index in range(3):  # a few frames: sparklines get history, places are reused from the last frame
        result = scene_result(SCENES[scene], index)
        overlay.annotate(result.frame.image.copy(), result, fps=30.0)
        assert_clean_layout(overlay)
    visible = sum(placer_visible(box) for box in overlay.last_boxes)
    labels = [p for p in overlay.last_placed if p.kind == "label"]
    assert len(labels) >= min(visible, 1)  # at least one label, whatever the crowd
    if scene == "side by side":  # room for nearly everything: label, tag and bars of both faces are drawn
        kinds = [(p.face, p.kind) for p in overlay.last_placed]
        assert all((face, kind) in kinds for face in (0, 1) for kind in ("label", "va", "bars"))
        assert (-1, "hud") in kinds and (-1, "va_plane") in kinds


def placer_visible(box: tuple[int, int, int, int] | None, height: int = 360, width: int = 640) -> bool:
    return box is not None and box[2] > 0 and box[3] > 0 and box[0] < width and box[1] < height


@pytest.mark.parametrize(
    "scene", ["side by side", "three in a row near the bottom", "stacked", "group of five", "random 3"]
)
def test_overlay_leaves_every_face_visible(scene: str) -> None:
    """Pixels inside each face box (within its border) are untouched: no panel, tag or label of any face on it."""
    result = scene_result(SCENES[scene])
    overlay = Overlay()
    out = overlay.annotate(result.frame.image.copy(), result, fps=30.0)
    diff = changed(result.frame.image, out)
    for face, (x1, y1, x2, y2) in enumerate(SCENES[scene]):
        inner = np.zeros_like(diff)
        # Within the border, which runs along the image edge where the box is cut by it.
        inner[max(int(y1), 0) + 3 : min(int(y2), 360) - 3, max(int(x1), 0) + 3 : min(int(x2), 640) - 3] = True
        for own in getattr(overlay, "last_placed", []):  # a label may sit inside its own box when nothing else fits
            if own.face == face and own.kind == "label":
                inner[own.rect[1] : own.rect[3], own.rect[0] : own.rect[2]] = False
        assert not (diff & inner).any(), f"something was drawn inside the face box {(x1, y1, x2, y2)}"


def test_a_crowd_collapses_to_one_line_labels() -> None:
    boxes = crowd(5, 6, 50, 40)
    result = scene_result(boxes)
    overlay = Overlay()
    overlay.annotate(result.frame.image.copy(), result, fps=30.0)
    labels = [p for p in overlay.last_placed if p.face >= 0]
    assert {p.kind for p in labels} == {"label"}  # 30 faces > detail_faces: no bars, tags or sparklines
    visible = sum(placer_visible(box) for box in overlay.last_boxes)
    assert visible == 24 and len(labels) == visible  # every face in the image keeps a label (one row is below it)
    assert len({p.rect[3] - p.rect[1] for p in labels}) == 1  # all of one height
    assert_clean_layout(overlay)


def test_label_shrinks_before_it_is_left_out() -> None:
    # Boxes touching left, right and each other: the label is wider than the box and has little room.
    result = scene_result([[0, 0, 60, 360], [62, 0, 122, 360], [124, 0, 184, 360]])
    labels = LabelAnnotator()
    labels.annotate(result.frame.image.copy(), result)
    # Full text where it fits, smaller text or the short text otherwise, never over another face.
    assert labels.last_placed and all(p.kind == "label" for p in labels.last_placed)
    assert overlapping(labels.last_placed, [tuple(b) for b in result.faces.xyxy.astype(int).tolist()]) == []


def test_places_stay_put_from_frame_to_frame() -> None:
    overlay = Overlay()
    slots = []
    for index in range(5):
        moved = [[100 + 2 * index, 80, 200 + 2 * index, 230], [330, 80, 430, 230]]
        result = scene_result(moved, index)
        overlay.annotate(result.frame.image.copy(), result, fps=30.0)
        slots.append(sorted((p.face, p.kind, p.slot) for p in overlay.last_placed))
    assert all(s == slots[0] for s in slots)


def test_text_is_sized_from_the_frame_resolution() -> None:
    def label_height(height: int, width: int) -> int:
        lay = layout_for(height, width)
        return text_size("happy 87% #3", lay.font_scale, lay.font_thickness)[1]

    assert label_height(360, 640) == 12  # 360p: 12-pixel capitals
    assert 8 <= label_height(240, 320) < label_height(360, 640) < label_height(720, 1280) < label_height(2160, 3840)
    # Growing slower than the image: on 4K the labels are a few percent of the height, not 66-pixel letters.
    assert label_height(2160, 3840) <= 40


def test_hud_shows_no_frame_rate_before_one_was_measured() -> None:
    result = make_result([[100, 80, 220, 230]], top=["happy"], timings_ms={"total": 6.64})
    assert HudAnnotator().text(result, fps=0.0) == "6.6 ms  1 face"  # a 1-frame video: no "0.0 fps"
    assert HudAnnotator().text(result, fps=None) == "6.6 ms  1 face"


def test_hud_moves_to_a_free_corner() -> None:
    result = make_result([[0, 0, 200, 100]], top=["happy"])  # a face in the top-left corner
    hud = HudAnnotator()
    hud.annotate(result.frame.image.copy(), result, fps=25.0)
    assert hud.last_region is not None and hud.last_region[0] > 200  # top-right instead


def test_draw_names_choose_the_parts() -> None:
    from affectlens.render import DEFAULT_DRAW, parse_draw

    assert parse_draw("boxes,labels") == {name: name in ("boxes", "labels") for name in ELEMENTS}
    assert set(DEFAULT_DRAW) == {n for n, on in parse_draw("default").items() if on}
    assert all(parse_draw("all").values()) and not any(parse_draw("none").values())
    assert parse_draw(" Labels , plane ")["va_plane"]
    with pytest.raises(ValueError, match=r"unknown part to draw 'nose'.*boxes"):
        parse_draw("boxes,nose")
    result = scene_result([[100, 80, 200, 230]])
    overlay = Overlay.from_draw("labels,hud")
    overlay.annotate(result.frame.image.copy(), result, fps=30.0)
    assert sorted(p.kind for p in overlay.last_placed) == ["hud", "label"]
    default = Overlay()
    assert [n for n in ELEMENTS if default.is_enabled(n)] == [n for n in ELEMENTS if n in DEFAULT_DRAW]


@pytest.mark.slow
def test_real_frames_have_no_label_over_another_face(shared_data) -> None:
    """The real pipeline on every frame of the Hamilton clip (several people, cuts), on the 5-face photo and on a
    2x2 mosaic of it (20 faces): no label or panel covers another face or another label, all inside the frame."""
    from affectlens.io import open_source
    from affectlens.pipeline import Analyzer

    video = shared_path("videos", "short_hamilton_clip.mp4")
    photo = cv2.imread(str(shared_path("images", "multi_face.jpg")))
    checked, most_faces, tracks = 0, 0, set()
    with Analyzer() as analyzer:
        overlay = Overlay(va_plane=True)
        with open_source(video) as source:
            for frame in source:
                result = analyzer.analyze_frame(frame, sequential=True)
                overlay.annotate(frame.image, result, fps=30.0)
                assert overlapping(overlay.last_placed, overlay.last_boxes) == [], f"frame {frame.index}"
                checked += 1
                most_faces = max(most_faces, len(result.faces))
                tracks.update(result.faces.track_id.tolist())
        for image in (photo, np.vstack([np.hstack([photo, photo])] * 2)):
            result = analyzer.analyze_image(image)
            overlay = Overlay()
            overlay.annotate(image.copy(), result, fps=30.0)
            assert overlapping(overlay.last_placed, overlay.last_boxes) == []
            labels = [p for p in overlay.last_placed if p.kind == "label"]
            assert len(labels) == len(result.faces) >= 5  # every face of the photo keeps its label
    assert checked == 275 and most_faces >= 2 and len(tracks - {-1}) >= 4
