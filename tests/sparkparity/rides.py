"""Deterministic rides for the parity test and the benchmark, the Kafka plumbing (an
independent client: confluent-kafka / librdkafka), and a reference model of the window rules.

Records look like the seed's simulator (§9): rideId, userId, city, distanceKm (a full double),
price (2 decimals), ts (ISO-8601).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

WINDOW_US = 5 * 60 * 1_000_000
DELAY_MS = 10 * 60 * 1000
T0 = datetime(2025, 3, 14, 12, 0, 0, tzinfo=timezone.utc)
CITIES = ["FR", "US", "DE", "MG", "UK"]


@dataclass
class Ride:
    """One produced record. `value` is the Kafka value; the other fields are the truth the
    value was made from (None where the record is malformed on purpose)."""

    value: bytes
    ts: datetime | None = None
    city: str | None = None  # upper-cased, as both engines should group it
    price: float | None = None
    distance: float | None = None
    kind: str = "ok"  # ok | bad_json | missing_ts | bad_ts | missing_price | missing_city


def epoch_us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def fmt_iso_ms(us: int) -> str:
    """Epoch µs → '2025-03-14T12:00:00.123Z' (java.time.Instant.toString at ms precision)."""
    t = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ride_json(ride_id: int, user_id: int, city, dist, price, ts_str, drop: str | None = None) -> bytes:
    d = {"rideId": ride_id, "userId": user_id, "city": city, "distanceKm": dist, "price": price, "ts": ts_str}
    if drop:
        del d[drop]
    return json.dumps(d, separators=(",", ":")).encode()


def ts_text(t: datetime, style: int) -> str:
    """The ISO-8601 spellings both engines must read the same way."""
    if style == 0:  # java.time.Instant.toString with ms, as the seed's producer
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    if style == 1:  # microseconds
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style == 2:  # an offset instead of Z
        return t.astimezone(timezone(timedelta(hours=1))).isoformat()
    if style == 3:  # space, no zone (= session zone UTC in Spark, UTC here)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")
    # 9 fraction digits: both truncate to µs (the extra digits are made up, '789')
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z"


def parity_rides(n: int = 600, span_min: int = 60, seed: int = 7) -> list[Ride]:
    """n rides with strictly increasing event times over span_min minutes from T0, the last one
    exactly at T0+span_min (so the final watermark equals a window end: the inclusive edge),
    one exactly on a window boundary, assorted ts spellings, a lower-case and a non-ASCII city;
    plus six malformed records spread through the stream."""
    rnd = random.Random(seed)
    step = timedelta(minutes=span_min) / (n - 1)
    out: list[Ride] = []
    for i in range(n):
        t = T0 + step * i
        t = t.replace(microsecond=(t.microsecond // 1000) * 1000 + rnd.randrange(1000)) if i not in (0, n - 1) else t
        if i == n // 3:
            t = T0 + timedelta(minutes=20)  # on a boundary: belongs to [12:20, 12:25)
        city = CITIES[rnd.randrange(len(CITIES))]
        grouped = city
        if i % 97 == 5:
            city, grouped = "straße", "STRASSE"  # full Unicode case mapping (Spark 4 ICU)
        elif i % 89 == 3:
            city = city.lower()
        dist = 5 + rnd.random() * 20
        price = round(dist * (0.8 + rnd.random()) * 100) / 100.0
        out.append(Ride(ride_json(rnd.randrange(1_000_000), rnd.randrange(100_000), city, dist, price,
                                  ts_text(t, i % 5)), t, grouped, price, dist))
    # Malformed records, inserted at fixed places (event times as their neighbours).
    def mid(k: int) -> Ride:
        return out[k]

    bad = [
        (n // 6, Ride(b'{"rideId":1,"userId":2,"city":"FR","distanceKm":3.5', kind="bad_json")),
        (n // 4, Ride(b"not json at all", kind="bad_json")),
        (n // 2, Ride(ride_json(11, 12, "US", 7.25, 9.5, "x", drop="ts"), kind="missing_ts")),
        (n // 2 + 7, Ride(ride_json(13, 14, "DE", 8.0, 9.0, "14/03/2025 12:31"), kind="bad_ts")),
    ]
    k = 2 * n // 3
    t = mid(k).ts
    bad.append((k, Ride(ride_json(15, 16, "MG", 12.5, 0, ts_text(t, 0), drop="price"), ts=t, city="MG",
                        distance=12.5, kind="missing_price")))
    k = 3 * n // 4
    t = mid(k).ts
    bad.append((k, Ride(ride_json(17, 18, "UK", 6.0, 7.75, ts_text(t, 0), drop="city"), ts=t, city=None,
                        price=7.75, distance=6.0, kind="missing_city")))
    for pos, r in sorted(bad, key=lambda x: -x[0]):
        out.insert(pos, r)
    return out


def closing_rides(rs: list[Ride], n_parts: int) -> list[tuple[int, Ride]]:
    """One ride per partition at the stream's last event time. rides.yaml closes windows at the
    minimum over partitions of their max event time − 10 min (deterministic per-partition rule),
    Spark at the global max − 10 min: with every partition ending at the same time the two agree,
    so the tables can be compared whole (docs/spark-parity.md: the tail difference)."""
    t = max(r.ts for r in rs if r.kind == "ok")
    out = []
    for p in range(n_parts):
        city = CITIES[p % len(CITIES)]
        out.append((p, Ride(ride_json(900_000 + p, 1, city, 10.0, 12.5, ts_text(t, 0)), t, city, 12.5, 10.0)))
    return out


# ---- the reference model ------------------------------------------------------------------

@dataclass
class Agg:
    revenue: float | None = None
    dist_sum: float = 0.0
    dist_n: int = 0
    cnt: int = 0
    prices: list = field(default_factory=list)


def fmt(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).strftime("%Y-%m-%d %H:%M:%S")


def model(rides: list[Ride], spark_rules: bool) -> dict:
    """Expected table for a stream where no row is late (in-order input): every usable row is
    aggregated into [start, start+5 min) by city; windows whose end <= max event time (ms) − 10 min
    are emitted, later ones stay open. spark_rules: PERMISSIVE from_json (a missing price is a
    null price, still counted; a missing city is a NULL-city group); otherwise rides.yaml's
    rules (every malformed record is dead-lettered). Unparsable ts: dropped in both
    (Spark with ANSI off; ANSI on fails the query instead).
    Returns {(city, win_start, win_end): (revenue, avg_distance, cnt)}."""
    usable = {"ok", "missing_price", "missing_city"} if spark_rules else {"ok"}
    groups: dict = {}
    max_ms = None
    for r in rides:
        if r.ts is None or r.kind not in usable:
            continue
        us = epoch_us(r.ts)
        max_ms = us // 1000 if max_ms is None else max(max_ms, us // 1000)
        start = us - us % WINDOW_US
        a = groups.setdefault((r.city, start, start + WINDOW_US), Agg())
        a.cnt += 1
        if r.price is not None:
            a.prices.append(r.price)
        if r.distance is not None:
            a.dist_sum += r.distance
            a.dist_n += 1
    wm_us = (max_ms - DELAY_MS) * 1000
    out = {}
    for (city, s, e), a in groups.items():
        if e <= wm_us:
            rev = math.fsum(a.prices) if a.prices else None
            avg = a.dist_sum / a.dist_n if a.dist_n else None
            out[(city, fmt(s), fmt(e))] = (rev, avg, a.cnt)
    return out


def open_windows(rides: list[Ride], spark_rules: bool) -> set:
    """(city, win_start) of the windows that hold rows but are never emitted (end > final W)."""
    usable = {"ok", "missing_price", "missing_city"} if spark_rules else {"ok"}
    rows = [r for r in rides if r.ts is not None and r.kind in usable]
    wm_us = (max(epoch_us(r.ts) // 1000 for r in rows) - DELAY_MS) * 1000
    return {(r.city, fmt(epoch_us(r.ts) - epoch_us(r.ts) % WINDOW_US)) for r in rows
            if epoch_us(r.ts) - epoch_us(r.ts) % WINDOW_US + WINDOW_US > wm_us}


def open_windows_by_stage(rides: list[Ride], parts: list[int]) -> tuple[int, int]:
    """The open (window, city) pairs of the two-stage job (config/rides.yaml) once every ride is in,
    ride i read from partition parts[i]: stage local keeps, per source partition, those of its rows
    past its own watermark (its max event time - delay); stage merge those that some partition
    passed (and sent) but not every one."""
    by_part: dict[int, list[Ride]] = {}
    for r, p in zip(rides, parts):
        if r.ts is not None and r.kind == "ok":
            by_part.setdefault(p, []).append(r)
    local, sent, wms = 0, set(), []
    for rows in by_part.values():
        wm_us = (max(epoch_us(r.ts) // 1000 for r in rows) - DELAY_MS) * 1000
        wms.append(wm_us)
        keys = {(r.city, epoch_us(r.ts) - epoch_us(r.ts) % WINDOW_US) for r in rows}
        local += sum(1 for _, s in keys if s + WINDOW_US > wm_us)
        sent |= {(c, s) for c, s in keys if s + WINDOW_US <= wm_us}
    return local, sum(1 for _, s in sent if s + WINDOW_US > min(wms))


# ---- Kafka ----------------------------------------------------------------------------------

def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Creates each topic with its partition count (the broker does not auto-create)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics([NewTopic(t, p, 1) for t, p in topics.items()], operation_timeout=30)
    for f in futs.values():
        f.result(timeout=60)


def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    """Produces (partition, value) pairs in order, idempotently, waiting for every ack."""
    from confluent_kafka import Producer

    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                  "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                  "compression.type": "none"})

    def cb(err, _msg):
        if err is not None:
            errors.append(err)

    for part, value in records:
        while True:
            try:
                p.produce(topic, value=value, partition=part, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.1)
    if p.flush(120) != 0:
        raise RuntimeError("produce: records still queued after 120 s")
    if errors:
        raise RuntimeError(f"produce: {len(errors)} records failed, first: {errors[0]}")


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list:
    """Reads `expected` records of a topic from the beginning (no group commits); returns them."""
    import time

    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"sparkparity-check-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out.append(m)
    finally:
        c.close()
    return out
