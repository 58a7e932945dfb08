"""Session JSON v1: export, strict loading with field-path errors, and the JSON Schema."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from engine.editing.editor import Editor
from engine.errors import SessionFormatError
from engine.editing.events import Event
from engine.media.fingerprint import media_info
from engine.media.open import open_media
from engine.ontology import default_ontology
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.sessions.record import SCHEMA_PATH, SegmenterInfo, Session, load_session, parse_session, session_from_log, write_session
from engine.types import MediaInfo

ROOT = Path(__file__).resolve().parents[2]
FRAMES = ROOT / "sample_media" / "frames"

MEDIA = MediaInfo("clip.mp4", "ab" * 32, 640, 360, 48, 24.0, tuple(i / 24 for i in range(48)))


def good_session() -> dict:
    """A small valid session, built by hand (not by the code under test)."""
    events = [
        {"kind": "quality", "frame": None, "data": {"value": 0.4}, "time": 1.0},
        {"kind": "open", "frame": 0, "data": {"media": "clip.mp4", "frames": 48, "size": [640, 360]}, "time": 2.0},
        {"kind": "sam", "frame": 0, "data": {"on": True}, "time": 3.0},
        {"kind": "goto", "frame": 7, "data": {}, "time": 4.0},
        {"kind": "class", "frame": 7, "data": {"name": "box"}, "time": 5.0},
        {"kind": "click", "frame": 7, "data": {"x": 0.25, "y": 0.5, "positive": True}, "time": 6.0},
        {"kind": "box", "frame": 7, "data": {"x0": 0.1, "y0": 0.2, "x1": 0.6, "y1": 0.9}, "time": 7.0},
        {"kind": "candidate", "frame": 7, "data": {"index": 1}, "time": 8.0},
        {"kind": "apply", "frame": 7, "data": {"object_id": 3, "class_name": "box"}, "time": 9.0},
        {"kind": "reset", "frame": 7, "data": {}, "time": 10.0},
        {"kind": "permanent", "frame": 7, "data": {"on": False}, "time": 11.0},
        {"kind": "edit", "frame": 7, "data": {"object_id": 3, "shape": {"type": "bounding_box", "box": [0.1, 0.2, 0.5, 0.6]}}, "time": 12.0},
        {"kind": "edit", "frame": 7, "data": {"object_id": 4, "shape": {"type": "polygon", "parts": [[[[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]]]}}, "time": 13.0},
        {"kind": "relabel", "frame": 7, "data": {"object_id": 3, "class_name": "object"}, "time": 14.0},
        {"kind": "undo", "frame": 7, "data": {"change": "relabel", "change_id": 5, "labels": [], "objects": [3]}, "time": 15.0},
        {"kind": "redo", "frame": 7, "data": {"change": "edit", "change_id": 4, "labels": [["clip.mp4", 7, 4]], "objects": [4]}, "time": 16.0},
        {"kind": "delete", "frame": 7, "data": {"object_id": 3}, "time": 17.0},
    ]
    return {
        "format": "framewise-session",
        "version": 1,
        "media": {
            "name": "clip.mp4",
            "fingerprint": "ab" * 32,
            "width": 640,
            "height": 360,
            "frames": 48,
            "fps": 24.0,
            "timestamps": [i / 24 for i in range(48)],
        },
        "ontology": [
            {"name": "object", "shape": "polygon", "colour": "#e6194b", "hotkey": "1"},
            {"name": "box", "shape": "bounding_box", "colour": "#3cb44b", "hotkey": None},
        ],
        "segmenter": {"backend": "classic", "model": "classic-v1", "quality": 0.6},
        "events": events,
    }


def mutate(path: str, value, *, delete: bool = False) -> dict:
    """good_session() with the field at dotted ``path`` (list indices as numbers) changed."""
    data = good_session()
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = data
    for key in keys[:-1]:
        target = target[key]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


def with_event(kind: str, frame, data: dict) -> dict:
    """good_session() with one more event (events[17]) of ``kind``."""
    session = good_session()
    session["events"].append({"kind": kind, "frame": frame, "data": data, "time": 18.0})
    return session


def propagate(**data) -> dict:
    return with_event("propagate", 7, {"objects": [3], "direction": 1, "until": 20, "changes": 13, **data})


def interpolate(**data) -> dict:
    return with_event("interpolate", 7, {"object_id": 3, "frame_a": 7, "frame_b": 20, "changes": 1, **data})


def save(tmp_path: Path, data, name: str = "S.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def schema_validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# -- loading ------------------------------------------------------------------------------


def test_good_session_loads_into_typed_fields(tmp_path):
    session = load_session(save(tmp_path, good_session()))
    assert isinstance(session, Session) and session.version == 1
    assert session.media.width == 640 and session.media.frames == 48 and session.media.timestamps[24] == 1.0
    assert session.ontology.names == ["object", "box"] and session.ontology["box"].hotkey is None
    assert session.segmenter == SegmenterInfo("classic", "classic-v1", 0.6)
    assert [e.kind for e in session.events][:3] == ["quality", "open", "sam"]
    assert [e.kind for e in session.events][11:] == ["edit", "edit", "relabel", "undo", "redo", "delete"]
    assert session.events[12].data["shape"]["parts"][0][0][2] == [0.2, 0.2]
    click = session.events[5]
    assert isinstance(click, Event) and click.frame_index == 7 and click.data == {"x": 0.25, "y": 0.5, "positive": True}
    assert session.events[0].frame_index is None and session.events[0].time == 1.0


def test_session_to_json_round_trips(tmp_path):
    session = load_session(save(tmp_path, good_session()))
    path = write_session(tmp_path / "again.json", session)
    assert json.loads(path.read_text()) == good_session()


BAD_CASES = [
    # (case, mutated session, field path the message must name, words it must contain)
    ("x above 1", mutate("events.5.data.x", 1.7), "events[5].data.x", "expected a number in [0, 1], got 1.7"),
    ("y below 0", mutate("events.5.data.y", -0.1), "events[5].data.y", "[0, 1]"),
    ("box corner out", mutate("events.6.data.x1", 1.2), "events[6].data.x1", "[0, 1]"),
    ("coordinate as text", mutate("events.5.data.x", "0.5"), "events[5].data.x", "expected a number"),
    ("boolean as coordinate", mutate("events.5.data.x", True), "events[5].data.x", "got true"),
    ("negative frame", mutate("events.3.frame", -2), "events[3].frame", "integer >= 0"),
    ("fractional frame", mutate("events.3.frame", 2.5), "events[3].frame", "integer"),
    ("unknown kind", mutate("events.2.kind", "teleport"), "events[2].kind", "unknown event kind 'teleport'"),
    ("missing data field", mutate("events.5.data.positive", None, delete=True), "events[5].data", "'positive'"),
    ("extra data field", mutate("events.3.data", {"to": 3}), "events[3].data.to", "unknown field"),
    ("positive not bool", mutate("events.5.data.positive", 1), "events[5].data.positive", "true or false"),
    ("candidate negative", mutate("events.7.data.index", -1), "events[7].data.index", "integer >= 0"),
    ("object id zero", mutate("events.8.data.object_id", 0), "events[8].data.object_id", "integer >= 1"),
    ("quality too high", mutate("events.0.data.value", 3), "events[0].data.value", "[0.2, 1]"),
    ("event not an object", mutate("events.4", [1, 2]), "events[4]", "expected an object"),
    ("event without time", mutate("events.4.time", None, delete=True), "events[4]", "'time'"),
    ("events not a list", mutate("events", {"kind": "goto"}), "events", "expected a list"),
    ("wrong format", mutate("format", "labelme"), "format", "not a framewise session"),
    ("no format", mutate("format", None, delete=True), "format", "not a framewise session"),
    ("future version", mutate("version", 3), "version", "version 3 is newer than this framewise supports (1)"),
    ("version as text", mutate("version", "1"), "version", "integer"),
    ("unknown top field", mutate("labels", []), "labels", "unknown field"),
    ("missing media", mutate("media", None, delete=True), "(top level)", "'media'"),
    ("media width zero", mutate("media.width", 0), "media.width", "integer >= 1"),
    ("media fps zero", mutate("media.fps", 0), "media.fps", "> 0"),
    ("media name number", mutate("media.name", 5), "media.name", "string"),
    ("timestamp text", mutate("media.timestamps.3", "x"), "media.timestamps[3]", "number"),
    ("segmenter quality", mutate("segmenter.quality", 0.1), "segmenter.quality", "[0.2, 1]"),
    ("segmenter no backend", mutate("segmenter.backend", None, delete=True), "segmenter", "'backend'"),
    ("unknown shape", mutate("ontology.1.shape", "blob"), "ontology", "unknown shape 'blob'"),
    ("bad colour", mutate("ontology.0.colour", "red"), "ontology", "colour"),
    ("empty ontology", mutate("ontology", []), "ontology", "at least one class"),
    ("open size wrong", mutate("events.1.data.size", [640]), "events[1].data.size", "[width, height]"),
    ("edited box out", mutate("events.11.data.shape.box.2", 1.5), "events[11].data.shape.box[2]", "[0, 1]"),
    ("edited box short", mutate("events.11.data.shape.box", [0.1, 0.2, 0.5]), "events[11].data.shape.box", "[x0, y0, x1, y1]"),
    ("edited vertex out", mutate("events.12.data.shape.parts.0.0.1.0", -0.2), "events[12].data.shape.parts[0][0][1][0]", "[0, 1]"),
    ("ring of two", mutate("events.12.data.shape.parts.0.0", [[0.1, 0.1], [0.2, 0.2]]), "events[12].data.shape.parts[0][0]", "at least 3 points"),
    ("no parts", mutate("events.12.data.shape.parts", []), "events[12].data.shape.parts", "at least one part"),
    ("shape type", mutate("events.12.data.shape.type", "circle"), "events[12].data.shape.type", "'polygon', 'bounding_box' or 'point'"),
    ("shape extra", mutate("events.11.data.shape.parts", []), "events[11].data.shape.parts", "unknown field"),
    ("delete without frame", mutate("events.16.frame", None), "events[16].frame", "needs a frame index"),
    ("goto without frame", mutate("events.3.frame", None), "events[3].frame", "needs a frame index"),
    ("relabel object 0", mutate("events.13.data.object_id", 0), "events[13].data.object_id", "integer >= 1"),
    ("undo label key", mutate("events.15.data.labels.0", ["clip.mp4", 7]), "events[15].data.labels[0]", "[media, frame, object id]"),
    ("undo frame text", mutate("events.15.data.labels.0.1", "7"), "events[15].data.labels[0][1]", "integer"),
    ("undo objects", mutate("events.14.data.objects", [0]), "events[14].data.objects[0]", "integer >= 1"),
    ("undo no change", mutate("events.14.data.change", None, delete=True), "events[14].data", "'change'"),
    # issue #17: every number bounded (engine.limits), so none can be looped over or overflow SQLite
    ("propagate changes 10**12", propagate(changes=10**12), "events[17].data.changes", "<= 10000000, got 1000000000000"),
    ("propagate until 2**63", propagate(until=2**63), "events[17].data.until", "<= 9999999"),
    ("propagate object 2**63", propagate(objects=[3, 2**63]), "events[17].data.objects[1]", "<= 9223372036854775807"),
    ("propagate direction 2**64", propagate(direction=2**64), "events[17].data.direction", "<= 1"),
    ("interpolate changes 2", interpolate(changes=2), "events[17].data.changes", "<= 1, got 2"),
    ("interpolate frame 10**400", interpolate(frame_b=10**400), "events[17].data.frame_b", "<= 9999999, got 1000"),
    ("object id 2**63", mutate("events.8.data.object_id", 2**63), "events[8].data.object_id", "<= 9223372036854775807"),
    ("delete id 2**64", mutate("events.16.data.object_id", 2**64), "events[16].data.object_id", "<= 9223372036854775807"),
    ("edit id -1", mutate("events.11.data.object_id", -1), "events[11].data.object_id", "integer >= 1"),
    ("frame 10**12", mutate("events.3.frame", 10**12), "events[3].frame", "<= 9999999"),
    ("frame 1e308", mutate("events.3.frame", 1e308), "events[3].frame", "<= 9999999"),
    ("media frames 10**12", mutate("media.frames", 10**12), "media.frames", "<= 10000000"),
    ("media width 2**64", mutate("media.width", 2**64), "media.width", "<= 268435456"),
    ("media fps 1e308", mutate("media.fps", 1e308), "media.fps", "<= 1e+06"),
    ("timestamp 1e308", mutate("media.timestamps.47", 1e308), "media.timestamps[47]", "[-1e+09, 1e+09]"),
    ("open frames 2**63", mutate("events.1.data.frames", 2**63), "events[1].data.frames", "<= 10000000"),
    ("open size 10**12", mutate("events.1.data.size.0", 10**12), "events[1].data.size[0]", "<= 268435456"),
    ("candidate 10**400", mutate("events.7.data.index", 10**400), "events[7].data.index", "<= 255"),
    ("undo change id 2**63", mutate("events.14.data.change_id", 2**63), "events[14].data.change_id", "<= 9223372036854775807"),
    ("undo label frame 2**63", mutate("events.15.data.labels.0.1", 2**63), "events[15].data.labels[0][1]", "<= 9999999"),
    ("undo object 2**64", mutate("events.15.data.objects.0", 2**64), "events[15].data.objects[0]", "<= 9223372036854775807"),
]

# What the schema cannot express: relations between fields. The hand validator rejects
# these; the schema accepts them (documented in the schema's description).
HAND_ONLY_CASES = [
    ("frame beyond media", mutate("events.3.frame", 48), "events[3].frame", "beyond the media's 48 frames"),
    ("timestamps count", mutate("media.timestamps", [0.0, 0.1]), "media.timestamps", "2 timestamps for 48 frames"),
    ("timestamps backwards", mutate("media.timestamps.5", 0.0), "media.timestamps[5]", "earlier"),
    ("empty box", mutate("events.6.data.x1", 0.1), "events[6].data", "empty box"),
    ("empty edited box", mutate("events.11.data.shape.box.0", 0.5), "events[11].data.shape.box", "empty box"),
    ("duplicate class", mutate("ontology.1.name", "object"), "ontology", "duplicate class name"),
    ("propagate changes beyond media", propagate(changes=49), "events[17].data.changes", "more than the media's 48 frames"),
    ("propagate until beyond media", propagate(until=48), "events[17].data.until", "beyond the media's 48 frames"),
    ("interpolate beyond media", interpolate(frame_a=60), "events[17].data.frame_a", "beyond the media's 48 frames"),
    ("frame over the pixel limit", mutate("media.width", 2**28), "media", "more than the 268435456 pixels"),
    ("open size over the pixel limit", mutate("events.1.data.size", [2**20, 2**20]), "events[1].data.size", "pixels"),
    ("lone surrogate class", mutate("events.4.data.name", "\ud800"), "events[4].data.name", "lone surrogate"),
    ("lone surrogate media", mutate("media.name", "clip\udfff.mp4"), "media.name", "lone surrogate"),
    ("lone surrogate label key", mutate("events.15.data.labels.0.0", "\ud800"), "events[15].data.labels[0][0]", "lone surrogate"),
    ("lone surrogate model", mutate("segmenter.model", "\udc80"), "segmenter.model", "lone surrogate"),
]


@pytest.mark.parametrize("case, data, field_path, words", BAD_CASES + HAND_ONLY_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_malformed_session_names_file_and_field(tmp_path, case, data, field_path, words):
    path = save(tmp_path, data)
    with pytest.raises(SessionFormatError) as info:
        load_session(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field_path}"), message
    assert words in message, message


def test_message_matches_the_documented_example(tmp_path):
    data = good_session()
    data["events"] = data["events"][:5] + [copy.deepcopy(data["events"][5]) for _ in range(8)]
    data["events"][12]["data"]["x"] = 1.7
    path = save(tmp_path, data, "S.json")
    with pytest.raises(SessionFormatError, match=r"S\.json: events\[12\]\.data\.x: expected a number in \[0, 1\], got 1\.7$"):
        load_session(path)


@pytest.mark.parametrize(
    "case, content, words",
    [
        ("truncated", json.dumps(good_session())[:500].encode(), "truncated or corrupt"),
        ("not json", b"\x80\x03}q\x00(X\x06\x00\x00\x00formatq", "not UTF-8"),
        ("garbage text", b"format: framewise-session\n", "not valid JSON"),
        ("empty", b"   \n", "empty file"),
        ("NaN", json.dumps(mutate("events.5.data.x", float("nan"))).encode(), "NaN is not allowed"),
        ("deep nesting", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        ("a list", b"[1, 2, 3]", "expected a session object"),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path, case, content, words):
    path = tmp_path / "S.json"
    path.write_bytes(content)
    with pytest.raises(SessionFormatError) as info:
        load_session(path)
    message = str(info.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message, message


def test_size_cap_refuses_before_parsing(tmp_path):
    path = save(tmp_path, good_session())
    size = path.stat().st_size
    assert load_session(path, max_bytes=size).media.frames == 48
    with pytest.raises(SessionFormatError, match="refusing to read"):
        load_session(path, max_bytes=size - 1)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SessionFormatError, match="no such session file"):
        load_session(tmp_path / "nope.json")
    with pytest.raises(SessionFormatError, match="is a folder"):
        load_session(tmp_path)


def test_integral_floats_count_as_integers_like_json_schema(schema_validator):
    data = mutate("events.3.frame", 7.0)
    data["media"]["width"] = 640.0
    assert parse_session(data).events[3].frame_index == 7
    assert schema_validator.is_valid(data)


# -- the JSON Schema -----------------------------------------------------------------------


def test_schema_accepts_the_good_session(schema_validator):
    schema_validator.validate(good_session())
    no_timestamps = mutate("media.timestamps", None, delete=True)
    schema_validator.validate(no_timestamps)
    assert parse_session(no_timestamps).media.timestamps == ()


@pytest.mark.parametrize("case, data, field_path, words", BAD_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_schema_and_hand_validator_agree(schema_validator, case, data, field_path, words):
    hand_rejects = True
    try:
        parse_session(data)
        hand_rejects = False
    except SessionFormatError:
        pass
    assert hand_rejects and not schema_validator.is_valid(data), case


@pytest.mark.parametrize("case, data, field_path, words", HAND_ONLY_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_cross_field_rules_are_beyond_the_schema(schema_validator, case, data, field_path, words):
    assert schema_validator.is_valid(data), case
    with pytest.raises(SessionFormatError):
        parse_session(data)


@pytest.mark.parametrize(
    "case, data",
    [
        ("integral frame", mutate("events.3.frame", 7.0)),
        ("zero coordinate", mutate("events.5.data.x", 0)),
        ("one coordinate", mutate("events.6.data.x1", 1)),
        ("null hotkey", mutate("ontology.0.hotkey", None)),
        ("no colour", mutate("ontology.0.colour", None, delete=True)),
        ("empty model", mutate("segmenter.model", "")),
        ("no events", mutate("events", [])),
        ("null frame", mutate("events.4.frame", None)),
        ("largest object id", mutate("events.8.data.object_id", 2**63 - 1)),
        ("propagation over the whole media", propagate(until=47, changes=48)),
        ("interpolation", interpolate()),
        ("interpolation that wrote nothing", interpolate(changes=0)),
    ],
)
def test_schema_and_hand_validator_agree_on_valid_variants(schema_validator, case, data):
    assert schema_validator.is_valid(data), case
    parse_session(data)


def test_schema_is_package_data():
    from importlib.resources import files

    assert SCHEMA_PATH == Path(__file__).resolve().parents[2] / "engine" / "sessions" / "schemas" / "session-v1.schema.json"
    text = (files("engine.sessions") / "schemas" / "session-v1.schema.json").read_text(encoding="utf-8")
    assert json.loads(text)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"engine.sessions" = ["schemas/*.json"]' in pyproject


# -- export from a real Editor log ----------------------------------------------------------


def test_export_of_an_editor_log_validates_against_both(tmp_path, schema_validator):
    segmenter = ClassicSegmenter()
    editor = Editor(segmenter, default_ontology(), quality=0.2)
    with editor:
        editor.open(FRAMES)
        editor.toggle_sam()
        editor.goto(2)
        editor.drag_box(-40, 100, 250, 300)  # dragged past the left edge: the Editor clips it
        editor.click(200, 200)
        editor.apply()
        with open_media(FRAMES) as source:
            info = media_info(source)
        data = session_from_log(editor.log.events, info, editor.ontology, SegmenterInfo.of(segmenter, 0.2))
    schema_validator.validate(data)
    assert [e["kind"] for e in data["events"]] == ["open", "sam", "goto", "box", "click", "apply"]
    box = data["events"][3]["data"]
    assert box["x0"] == 0.0 and box["x1"] == pytest.approx(250 / info.width)
    click = data["events"][4]["data"]
    assert click["x"] == pytest.approx(200.5 / info.width) and click["y"] == pytest.approx(200.5 / info.height)
    path = write_session(tmp_path / "out" / "S.json", data)
    session = load_session(path)
    assert session.media == MediaInfo(info.name, info.fingerprint, info.width, info.height, 24, info.fps, info.timestamps)
    assert session.segmenter == SegmenterInfo("classic", segmenter.model, 0.2)
    assert [e.kind for e in session.events] == [e.kind for e in editor.log.events]
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic write left no temporary file


def test_export_refuses_a_log_that_cannot_be_a_valid_session():
    events = [Event("open", 0, {"media": "clip.mp4", "frames": 48, "size": [640, 360]}), Event("goto", 60)]
    with pytest.raises(SessionFormatError, match=r"events\[1\]\.frame: frame 60 is beyond"):
        session_from_log(events, MEDIA, default_ontology(), SegmenterInfo("classic", "classic-v1", 0.6))


def test_events_of_media_carries_in_state_changed_elsewhere():
    from engine.sessions.record import events_of_media

    def ev(kind, t, **data):
        return Event(kind, 0, data, float(t))

    a = [ev("open", 1, media="a", frames=48, size=[640, 360]), ev("class", 2, name="object"), ev("click", 3, x=0.5, y=0.5, positive=True)]
    b = [ev("open", 4, media="b", frames=9, size=[64, 48]), ev("class", 5, name="box"), ev("sam", 6, on=False)]
    a2 = [ev("open", 7, media="a", frames=48, size=[640, 360]), ev("sam", 8, on=True), ev("class", 9, name="box")]
    before_any_media = [Event("sam", None, {"on": True}, 0.0), Event("quality", None, {"value": 0.3}, 0.5)]
    kept = events_of_media([*before_any_media, *a, *b, *a2], a + a2)
    assert [(e.kind, e.data, e.time) for e in kept] == [
        ("sam", {"on": True}, 1.0),  # set before any media was open: carried in before a's open
        ("quality", {"value": 0.3}, 1.0),
        ("open", {"media": "a", "frames": 48, "size": [640, 360]}, 1.0),
        ("class", {"name": "object"}, 2.0),
        ("click", {"x": 0.5, "y": 0.5, "positive": True}, 3.0),
        ("class", {"name": "box"}, 7.0),  # changed while b was open: carried in before a resumes
        ("sam", {"on": False}, 7.0),
        ("open", {"media": "a", "frames": 48, "size": [640, 360]}, 7.0),
        ("sam", {"on": True}, 8.0),
        ("class", {"name": "box"}, 9.0),
    ]
    assert [kept.index(e) for e in a + a2] == [2, 3, 4, 7, 8, 9]
    assert all(kept[i].frame_index is None for i in (0, 1, 5, 6))
    assert events_of_media(a, a) == a  # a log of one media comes back unchanged
