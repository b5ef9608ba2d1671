"""The dagstore.annotation/1 schema, the class list, colors, media probing, UTF-16 offsets."""

from __future__ import annotations

import io
import wave

import pytest
from PIL import Image

from dagstore.annotations import AnnotationError, ClassList, ClassListError, decode, default_color, encode, merge_class_lists, validate
from dagstore.annotations.media import probe, probe_image
from dagstore.annotations.text import Utf16Offsets
from dagstore.export.formats.coco import coco_category_ids
from dagstore.export.view import class_infos

IMG = {"kind": "image", "width": 100, "height": 50}


def test_full_example_validates_and_keeps_unknown_fields():
    ann = {
        "split": "train",
        "media": {"kind": "image", "width": 1280, "height": 720, "depth": 3, "duration_s": None, "sample_rate": None},
        "labels": ["cat"],
        "regions": [
            {"id": "r1", "type": "box", "label": "cat", "xywh": [10.0, 20.0, 300.0, 200.0], "rotation": 0.0, "score": None, "attrs": {}},
            {"id": "r2", "type": "polygon", "label": "cat", "points": [[12, 22], [300, 25], [290, 210]]},
            {"id": "r3", "type": "keypoints", "label": "cat", "points": [[40, 50, 2], [60, 52, 1]], "parent": "r1"},
            {"id": "r4", "type": "mask", "label": "cat", "rle": {"size": [720, 1280], "counts": "abc"}},
        ],
        "fields": {"caption": "a cat"},
        "my_extension": {"kept": True},
        "alternatives": [{"kind": "prediction", "score": 0.5, "labels": ["dog"]}],
    }
    out = validate(ann, "a.jpg", ["cat", "dog"])
    assert out["my_extension"] == {"kept": True}
    assert out == ann


@pytest.mark.parametrize(
    "ann, field",
    [
        ({"labels": ["cow"]}, "labels[0]"),
        ({"media": IMG, "regions": [{"type": "box", "label": "cow", "xywh": [0, 0, 1, 1]}]}, "regions[0].label"),
        ({"regions": [{"type": "box", "label": "cat", "xywh": [0, 0, 1, 1]}]}, "media.width/height"),
        ({"media": IMG, "regions": [{"type": "box", "label": "cat", "xywh": [90, 10, 20, 5]}]}, "regions[0].xywh"),
        ({"media": IMG, "regions": [{"type": "box", "label": "cat", "xywh": [1, 1, -2, 5]}]}, "regions[0].xywh"),
        ({"media": IMG, "regions": [{"type": "polygon", "label": "cat", "points": [[1, 1], [200, 1], [1, 2]]}]}, "regions[0].points[1]"),
        ({"media": IMG, "regions": [{"type": "keypoints", "label": "cat", "points": [[1, 1, 3]]}]}, "regions[0].points[0]"),
        ({"text": "hello", "regions": [{"type": "span", "label": "cat", "start": 2, "end": 6}]}, "regions[0].end"),
        ({"regions": [{"type": "circle", "label": "cat"}]}, "regions[0].type"),
        ({"split": "a/b"}, "split"),
        ({"media": {"kind": "audio", "duration_s": 2.0}, "regions": [{"type": "segment", "label": "cat", "start_s": 1.0, "end_s": 3.0}]}, "regions[0].end_s"),
        ({"alternatives": [{"kind": "guess"}]}, "alternatives[0].kind"),
        ({"alternatives": [{"kind": "draft", "labels": ["cow"]}]}, "alternatives[0].labels[0]"),
    ],
)
def test_violations_name_the_file_and_the_field(ann, field):
    with pytest.raises(AnnotationError) as ei:
        validate(ann, "img/a.jpg", ["cat"])
    assert ei.value.field == field
    assert str(ei.value).startswith("img/a.jpg: " + field)


def test_span_length_comes_from_the_file_only_when_needed():
    calls = []

    def text_len() -> int:
        calls.append(1)
        return 4

    validate({"labels": ["cat"]}, "t.txt", ["cat"], text_len)
    assert calls == []
    validate({"regions": [{"type": "span", "label": "cat", "start": 0, "end": 4}]}, "t.txt", ["cat"], text_len)
    with pytest.raises(AnnotationError, match="past the end"):
        validate({"regions": [{"type": "span", "label": "cat", "start": 0, "end": 5}]}, "t.txt", ["cat"], text_len)


def test_not_json_serializable_is_refused():
    with pytest.raises(AnnotationError, match="JSON"):
        validate({"fields": {"x": object()}}, "a", None)
    with pytest.raises(AnnotationError, match="JSON"):
        validate({"fields": {"x": float("nan")}}, "a", None)


def test_encoding_is_canonical():
    text = encode({"b": 1, "a": [1, {"d": 2, "c": "é it's"}]})
    assert text == """{'a':[1,{'c':'é it"s','d':2}],'b':1}"""  # canonical JSON, quotes swapped
    assert decode(text) == {"a": [1, {"c": "é it's", "d": 2}], "b": 1}


def test_class_list_merge_prefix_and_conflict():
    a = ClassList(("cat", "dog"))
    b = ClassList(("cat", "dog", "cow"))
    assert merge_class_lists([a, b]).names == ("cat", "dog", "cow")
    assert merge_class_lists([b, a]).names == ("cat", "dog", "cow")
    c = ClassList(("dog", "cat"))
    with pytest.raises(ClassListError, match="disagree"):
        merge_class_lists([a, c])
    assert merge_class_lists([a, c], explicit=["dog", "cat", "bird"]).names == ("dog", "cat", "bird")
    with pytest.raises(ClassListError, match="append-only"):
        merge_class_lists([a, c], explicit=["dog"])


def test_class_list_is_append_only_and_keeps_coco_ids():
    cl = ClassList(("a", "b", "c"), {"a": 1, "b": 2, "c": 4})
    more = cl.extend(["b", "d"])
    assert more.names == ("a", "b", "c", "d")
    assert coco_category_ids(class_infos(more)) == {"a": 1, "b": 2, "c": 4, "d": 3}  # what a COCO export numbers them
    assert ClassList.from_dict(more.to_dict()) == more
    with pytest.raises(ClassListError):
        ClassList(("a", "a"))
    with pytest.raises(ClassListError):
        ClassList(("a", "b"), {"a": 1, "b": 1})
    with pytest.raises(ClassListError, match="already has coco_id"):
        cl.extend([], coco_ids={"a": 7})


def test_colors_are_deterministic_and_valid():
    assert default_color("cat") == default_color("cat")
    assert default_color("cat") != default_color("dog")
    assert len(default_color("x")) == 7 and default_color("x").startswith("#")
    cl = ClassList(("cat", "dog")).extend([], colors={"cat": "#FF0000"})
    assert cl.all_colors() == {"cat": "#ff0000", "dog": default_color("dog")}
    with pytest.raises(ClassListError):
        cl.extend([], colors={"cat": "red"})


def _jpeg_with_orientation(w: int, h: int, orientation: int) -> bytes:
    im = Image.new("RGB", (w, h), "red")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_image_probe_honours_exif_orientation():
    assert probe_image(io.BytesIO(_jpeg_with_orientation(40, 20, 1))) == {"kind": "image", "width": 40, "height": 20, "depth": 3}
    assert probe_image(io.BytesIO(_jpeg_with_orientation(40, 20, 6))) == {"kind": "image", "width": 20, "height": 40, "depth": 3}
    assert probe_image(io.BytesIO(b"not an image")) is None


def test_audio_probe_reads_duration(tmp_path):
    p = tmp_path / "a.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 12000)
    assert probe(str(p), "a.wav") == {"kind": "audio", "duration_s": 1.5, "sample_rate": 8000}


def test_utf16_offsets_become_code_points():
    text = "héllo 😀 世界 👍🏽!"
    units = text.encode("utf-16-le")
    conv = Utf16Offsets(text)
    for cp in range(len(text) + 1):
        u = len(text[:cp].encode("utf-16-le")) // 2
        assert conv.to_codepoint(u) == cp
    assert conv.utf16_len == len(units) // 2
    with pytest.raises(ValueError, match="surrogate"):
        conv.to_codepoint(len("héllo 😀".encode("utf-16-le")) // 2 - 1)
    with pytest.raises(ValueError):
        Utf16Offsets("ab").to_codepoint(3)


def _outcome(annotation: dict) -> object:
    try:
        return validate(annotation, "p", {"cat", "dog"}, plain=True)
    except AnnotationError as exc:
        return (exc.field, exc.reason)


def test_boxes_checked_inline_give_the_same_outcome_as_the_full_checks():
    """Plain boxes (dicts) take an inline check; a non-dict mapping takes the full checks."""
    import random
    from types import MappingProxyType

    rnd = random.Random(3)
    values = [0, 1, 10.5, 99.6, 100.4, 100.6, -0.4, -0.6, -3, float("nan"), float("inf"), True, "7", None]
    for _ in range(3000):
        r = {"type": "box", "label": rnd.choice(["cat", "dog", "cow", "", 3, None]), "xywh": [rnd.choice(values) for _ in range(rnd.choice([4, 4, 4, 3]))]}
        for key, choices in (("id", ["r1", "r2", None, 5]), ("score", [None, 0.5, "x", float("nan")]), ("rotation", [None, 0, 0.0, 30, "x"])):
            if rnd.random() < 0.3:
                r[key] = rnd.choice(choices)
        other = {"id": "r1", "type": "box", "label": "cat", "xywh": [1, 1, 2, 2]}
        regions = [other, r] if rnd.random() < 0.3 else [r]
        fast = _outcome({"media": IMG, "regions": regions})
        full = _outcome({"media": IMG, "regions": [MappingProxyType(x) for x in regions]})
        assert (fast if isinstance(fast, tuple) else "ok") == (full if isinstance(full, tuple) else "ok"), r


def test_loads_gives_the_standard_librarys_objects_and_errors():
    import json
    import math

    from dagstore.core.decode import loads

    texts = ['{"a":1,"a":2}', "[1e400, -0.0, 0.30000000000000004, 5e-324]", "[99999999999999999999999, -9223372036854775809, 18446744073709551615]",
             '["\\u00e9\\ud83d\\ude00", "\\ud800"]', "[NaN, Infinity]", '{"k": [1, {"x": null}]}', "\ufeff[1]"]
    for text in texts:
        for data in (text, text.encode("utf-8", "surrogatepass")):
            try:
                want = json.loads(data)
            except ValueError as exc:
                with pytest.raises(ValueError) as got:
                    loads(data)
                assert str(got.value) == str(exc)
                continue
            got = loads(data)
            assert json.dumps(got) == json.dumps(want) and [type(v) for v in got] == [type(v) for v in want] if isinstance(got, list) else got == want
    assert math.isnan(loads(b"[NaN]")[0])
    assert isinstance(loads(b"[99999999999999999999999]")[0], int)  # orjson alone would give a float
