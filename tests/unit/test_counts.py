"""Counting: crossings per local hour, per line, direction and kind; the health message's
shape and schema; the index's query of crossings from real event rows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from edge.health.counts import by_hour, totals
from edge.health.availability import Availability
from edge.health.payload import CameraFacts, camera_entry
from edge.record.index import Index
from edge.timefmt import local_day

CAM = "34020000001320000001"
DAY = datetime(2026, 12, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # local midnight


def test_crossings_count_per_local_hour_and_only_that_day(tmp_path: Path) -> None:
    index = Index(tmp_path)
    at = [(DAY - 1, "a_to_b", "person"),  # 23:59:59 the day before
          (DAY + 7 * 3600 + 5, "a_to_b", "person"), (DAY + 7 * 3600 + 3599, "a_to_b", "person"),
          (DAY + 8 * 3600, "a_to_b", "person"), (DAY + 8 * 3600, "b_to_a", "vehicle"),
          (DAY + 86_399, "b_to_a", "person"), (DAY + 86_400, "b_to_a", "person")]
    for ts, way, label in at:
        index.add_event(CAM, ts, "tripwire", {"rule": "村口", "direction": way, "label": label,
                                               "armed": ts > DAY}, None)
    index.add_event(CAM, DAY + 60, "detection", {"label": "person"}, None)  # not a crossing
    start, end, day = local_day(DAY + 12 * 3600, "Asia/Shanghai")
    assert (start, end - start, day) == (DAY, 86_400, "2026-12-05")
    counts = by_hour(index.crossings(start, end), start)
    index.close()
    assert [(c.direction, c.label, c.total) for c in counts] == [
        ("a_to_b", "person", 3), ("b_to_a", "person", 1), ("b_to_a", "vehicle", 1)]
    assert counts[0].hours[7] == 2 and counts[0].hours[8] == 1 and counts[1].hours[23] == 1
    assert totals(counts) == {CAM: {"村口": {"a_to_b": {"person": 3},
                                             "b_to_a": {"person": 1, "vehicle": 1}}}}


def test_crossings_in_health_and_its_schema() -> None:
    schema = json.loads((Path(__file__).resolve().parents[2] / "edge" / "health"
                         / "health.schema.json").read_text())
    cam_schema = {**schema["properties"]["cameras"]["items"], "$defs": schema["$defs"]}
    facts = CameraFacts(CAM, "村口", False, 60, None, False, Availability(None, 0.0),
                        Availability(None, 0.0),
                        crossings_today={"村口": {"a_to_b": {"person": 3}}})
    cam = camera_entry(facts, {"online": True, "recording": True}, 5000.0)
    assert cam["crossings_today"] == {"村口": {"a_to_b": {"person": 3}}}
    jsonschema.validate(cam, cam_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**cam, "crossings_today": {"村口": {"up": {"person": 1}}}},
                            cam_schema)
    plain = camera_entry(CameraFacts(CAM, "村口", False, 60, None, False, Availability(None, 0),
                                     Availability(None, 0)), {}, 5000.0)
    assert "crossings_today" not in plain
