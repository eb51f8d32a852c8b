#!/usr/bin/env python3
"""Writes zoneinfo_vectors.json: what Python's zoneinfo says about random instants, wall-clock times and
access schedules, for JumpPolicyTests to compare with TimeZoneDatabase and AccessSchedule.

Python's standard library only. It reads the same TZif files as the Swift code (/usr/share/zoneinfo), so the
vectors follow this machine's tzdata package. After a tzdata update, regenerate and commit the JSON:

    python3 Tests/JumpPolicyTests/Vectors/zoneinfo_vectors.py

The schedule answers are computed here independently of the Swift code: `permits` from the wall clock, and
the next change by stepping minute by minute (every offset and transition since 1970 in these zones falls on a
whole minute, so no change can hide between two steps).
"""

import argparse
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SEED = 20260308
ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",  # southern hemisphere: daylight time spans the new year
    "Asia/Kolkata",  # +05:30, no daylight time since 1945
    "Pacific/Chatham",  # +12:45 and +13:45
    "Europe/Dublin",  # "negative" daylight time: GMT in winter is the daylight-saving period
    "America/Sao_Paulo",  # daylight time abolished in 2019
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "America/Nuuk",  # footer rule times of -1:00 (RFC 8536 extension); changed its standard offset in 2023
]
START = 0  # 1970-01-01T00:00:00Z
END = 4102444800  # 2100-01-01T00:00:00Z
DAY = 86400
WEEK_MINUTES = 7 * 24 * 60
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# AccessSchedule searches two horizons of 8 days; beyond them it answers "never".
NEXT_CHANGE_HORIZON = 16 * DAY

RANDOM_INSTANTS_PER_ZONE = 190
NEAR_TRANSITION_INSTANTS_PER_ZONE = 150
LOCAL_TIMES_PER_ZONE = 80
SCHEDULES = 320


def state(zone, t):
    moment = datetime.fromtimestamp(t, zone)
    return moment.utcoffset(), moment.dst(), moment.tzname()


def transitions(zone):
    """Every change of offset, DST flag or abbreviation from 1970 to 2100: step a day, then bisect."""
    found = []
    t, current = START, state(zone, START)
    while t < END:
        following = min(t + DAY, END)
        if state(zone, following) == current:
            t = following
            continue
        low, high = t, following
        while high - low > 1:
            middle = (low + high) // 2
            if state(zone, middle) == current:
                low = middle
            else:
                high = middle
        found.append(high)
        t, current = high, state(zone, high)
    return found


def wall_text(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# An instant vector is a row of these columns (rows rather than objects keep the file small).
INSTANT_COLUMNS = ["t", "offset", "dst", "abbreviation", "local", "weekday"]


def instant_vector(zone, t):
    moment = datetime.fromtimestamp(t, zone)
    offset = int(moment.utcoffset().total_seconds())
    return [t, offset, bool(moment.dst()), moment.tzname(), wall_text(moment), moment.isoweekday()]


def local_vector(zone, wall):
    """The instants whose wall clock shows `wall`: fold 0 and fold 1, kept only if they read back as `wall`."""
    instants = set()
    for fold in (0, 1):
        t = int(wall.replace(tzinfo=zone, fold=fold).timestamp())
        if datetime.fromtimestamp(t, zone).replace(tzinfo=None) == wall:
            instants.add(t)
    return {"local": wall_text(wall), "instants": sorted(instants)}


def week_minute(moment):
    return ((moment.isoweekday() - 1) * 24 + moment.hour) * 60 + moment.minute


def entry_minutes(entry):
    def minute(point):
        return (WEEKDAYS.index(point["day"]) * 24 + point["hour"]) * 60 + point["minute"]

    return minute(entry["start"]), minute(entry["end"])


def entry_contains(entry, now):
    start, end = entry_minutes(entry)
    if start == end:
        return True  # the whole week
    if start < end:
        return start <= now < end
    return now >= start or now < end  # wraps past the end of the week


def permits(schedule, zone, t):
    if not schedule["enabled"]:
        return True
    now = week_minute(datetime.fromtimestamp(t, zone))
    return any(entry_contains(entry, now) for entry in schedule["entries"])


def next_change(schedule, zone, t):
    current = permits(schedule, zone, t)
    minute = (t // 60 + 1) * 60
    while minute <= t + NEXT_CHANGE_HORIZON:
        if permits(schedule, zone, minute) != current:
            return minute
        minute += 60
    return None


def week_time(minute):
    minute %= WEEK_MINUTES
    return {"day": WEEKDAYS[minute // 1440], "hour": minute // 60 % 24, "minute": minute % 60}


def random_entry(rng, start):
    if rng.random() < 0.02:
        duration = 0  # start equal to end: the whole week
    elif rng.random() < 0.6:
        duration = rng.randint(15, 12 * 60)
    else:
        duration = rng.randint(12 * 60, 4 * 1440)
    if rng.random() < 0.5:
        start -= duration  # the chosen point becomes the end, so boundaries near transitions are ends too
    return {"start": week_time(start), "end": week_time(start + duration)}


def random_minute_of_week(rng):
    minute = rng.randrange(WEEK_MINUTES)
    return minute - minute % 15 if rng.random() < 0.7 else minute


def schedule_vector(rng, zones, changes):
    name = rng.choice(ZONES)
    zone = zones[name]
    near = changes[name] and rng.random() < 0.5
    if near:
        # An instant up to three days before a transition, and an entry boundary within its hours.
        change = rng.choice(changes[name])
        t = change - rng.randint(0, 3 * DAY)
        boundary = week_minute(datetime.fromtimestamp(change - 1, zone)) + rng.choice(range(-60, 91, 15))
        entries = [random_entry(rng, boundary)]
        others = rng.randint(0, 2)
    else:
        t = rng.randrange(START, END)
        entries = []
        others = 0 if rng.random() < 0.04 else rng.randint(1, 4)
    for _ in range(others):
        entries.append(random_entry(rng, random_minute_of_week(rng)))
    schedule = {"enabled": rng.random() > 0.05, "timeZone": name, "entries": entries}
    return {
        "schedule": schedule,
        "t": t,
        "permits": permits(schedule, zone, t),
        "nextChange": next_change(schedule, zone, t),
    }


def zone_vectors(rng, name, zone, changes):
    instants = [rng.randrange(START, END) for _ in range(RANDOM_INSTANTS_PER_ZONE)]
    walls = []
    if changes:
        for _ in range(NEAR_TRANSITION_INSTANTS_PER_ZONE):
            delta = rng.choice([-1, 0, 1, rng.randint(-7200, 7200), rng.randint(-3 * DAY, 3 * DAY)])
            instants.append(rng.choice(changes) + delta)
        for _ in range(LOCAL_TIMES_PER_ZONE):
            # Wall-clock times around a transition: in its gap or repeated hour, or just outside them.
            before = datetime.fromtimestamp(rng.choice(changes) - 1, zone).replace(tzinfo=None, second=0)
            walls.append(before + timedelta(minutes=rng.randint(-90, 90)))
    else:
        instants += [rng.randrange(START, END) for _ in range(NEAR_TRANSITION_INSTANTS_PER_ZONE)]
    while len(walls) < LOCAL_TIMES_PER_ZONE * 5 // 4:
        walls.append(datetime.fromtimestamp(rng.randrange(START, END), zone).replace(tzinfo=None))
    return {
        "zone": name,
        "instants": [instant_vector(zone, t) for t in instants],
        "locals": [local_vector(zone, wall) for wall in walls],
    }


def render(value, indent=""):
    """JSON with one vector per line, so that a tzdata update shows as a readable diff."""

    def is_table(item):
        return isinstance(item, list) and any(isinstance(element, (dict, list)) for element in item)

    inner = indent + "  "
    if isinstance(value, dict) and any(is_table(item) for item in value.values()):
        items = [f"{inner}{json.dumps(key)}: {render(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if is_table(value):
        return "[\n" + ",\n".join(inner + render(item, inner) for item in value) + "\n" + indent + "]"
    return json.dumps(value, separators=(",", ":"))


def tzdata_version(root):
    try:
        with open(root / "tzdata.zi") as source:
            return source.readline().removeprefix("# version").strip()
    except OSError:
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoneinfo", type=Path, default=Path("/usr/share/zoneinfo"))
    parser.add_argument("--output", type=Path, default=Path(__file__).with_suffix(".json"))
    arguments = parser.parse_args()

    rng = random.Random(SEED)
    zones = {}
    for name in ZONES:
        with open(arguments.zoneinfo / name, "rb") as source:
            zones[name] = ZoneInfo.from_file(source, key=name)
    changes = {name: transitions(zone) for name, zone in zones.items()}
    document = {
        "about": "Written by zoneinfo_vectors.py from Python's zoneinfo; do not edit. Regenerate after a tzdata update.",
        "seed": SEED,
        "instantColumns": INSTANT_COLUMNS,
        "tzdata": tzdata_version(arguments.zoneinfo),
        "zones": [zone_vectors(rng, name, zones[name], changes[name]) for name in ZONES],
        "schedules": [schedule_vector(rng, zones, changes) for _ in range(SCHEDULES)],
    }
    arguments.output.write_text(render(document) + "\n")


if __name__ == "__main__":
    main()
