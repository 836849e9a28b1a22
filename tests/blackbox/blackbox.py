#!/usr/bin/env python3
"""Black-box runs of the binary, apart from the Go harness: rides of its own generator (every
city spelling, ISO-8601 forms with offsets and fractions, disorder, late and malformed records,
random partitions, random compression), produced with another Kafka client (librdkafka), the
jobs SIGKILLed at random times, the tables read by delta-rs and compared with a reference of its
own (math.fsum). See tests/blackbox/README.md.

  blackbox.py silver [--config C] [--replicas N] [--live] [--edited] ...
  blackbox.py bronze ...

The broker is $KAFKA_PLAINTEXT; the seed is logged and --seed repeats a run.
"""
import argparse
import datetime as dt
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict

from confluent_kafka import Consumer, Producer
from deltalake import DeltaTable

CITIES = ["paris", "Lyon", "MARSEILLE", "São Paulo", "straße", "Zürich", "istanbul", "köln",
          "new york", "Ñuñoa", "ßad", "éVry", "tokyo", "Łódź"]
MALFORMED = [b"{not json", b"", b"[1,2,3]", b'{"rideId":"abc"',
             b'{"rideId":1,"userId":2,"city":"x","distanceKm":1,"price":1,"ts":"yesterday"}']
T0 = 1764576000.0  # 2025-12-01T08:00:00Z


class Run:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.kafka = os.environ["KAFKA_PLAINTEXT"]
        self.topic = f"bb{a.seed}-{a.mode}-{int(time.time() * 1000)}"
        self.dlq = self.topic + "-dlq"
        self.group = self.topic + "-g"
        self.size, self.delay = a.size_min * 60, a.delay_min * 60
        os.makedirs(a.work, exist_ok=True)
        self.procs = []
        self.feeder = None

    # --- data -----------------------------------------------------------------------------------

    def fmt_ts(self, t):
        """A random ISO-8601 spelling of epoch seconds t (ms precision)."""
        d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        ms = f"{d.microsecond // 1000:03d}"
        k = self.rng.random()
        if k < 0.5:
            return d.strftime("%Y-%m-%dT%H:%M:%S.") + ms + "Z"
        if k < 0.65:
            return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if k < 0.85:
            off = self.rng.choice([-300, -90, 60, 120, 330, 540])
            return d.astimezone(dt.timezone(dt.timedelta(minutes=off))).isoformat(timespec="milliseconds")
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"

    def generate(self):
        """(partition, value, (event time, ride) or None) in produce order: time advances 50 ms
        a record; a ride is up to --disorder-min behind, 1.6 % are 10–40 min behind (mostly late),
        0.1 % one to two hours; 0.4 % are malformed."""
        a, rng, out = self.a, self.rng, []
        for i in range(a.rides):
            now = T0 + 0.05 * i
            p = rng.randrange(a.partitions)
            r = rng.random()
            if r < 0.004:
                out.append((p, rng.choice(MALFORMED), None))
                continue
            if r < 0.02:
                ev = now - rng.uniform(self.delay, self.delay + 1800)
            elif r < 0.021:
                ev = now - rng.uniform(3600, 7200)
            else:
                ev = now - rng.uniform(0, a.disorder_min * 60)
            ev = round(ev * 1000) / 1000
            dist = round(rng.uniform(0.3, 40.0), rng.choice([1, 2, 3, 6]))
            price = rng.choice([round(dist * (0.8 + rng.random()) * 100) / 100.0, dist * 1.7 * rng.random(), 1e-9 * rng.random()])
            ride = {"rideId": i, "userId": rng.randrange(5000), "city": rng.choice(CITIES),
                    "distanceKm": dist, "price": price, "ts": self.fmt_ts(ev)}
            out.append((p, json.dumps(ride, ensure_ascii=rng.random() < 0.5).encode(), (ev, ride)))
        return out

    def reference(self, recs):
        """The per-partition rule (docs/window.md): a ride is late iff its window ended delay
        before the latest event time read before it in its partition; a window is written once
        every partition is past it. Sums exact (math.fsum)."""
        maxts, groups, late = {}, defaultdict(list), 0
        for p, _, r in recs:
            if r is None:
                continue
            ev, ride = r
            ws = math.floor(ev / self.size) * self.size
            if p in maxts and ws + self.size <= maxts[p] - self.delay:
                late += 1
            else:
                key = (ws, ride["city"].upper()) + ((ride["userId"],) if self.a.edited else ())
                groups[key].append(ride)
            maxts[p] = max(maxts.get(p, -math.inf), ev)
        w = min(maxts[p] for p in range(self.a.partitions)) - self.delay
        rows = {k: (math.fsum(x["price"] for x in rs), math.fsum(x["distanceKm"] for x in rs) / len(rs), len(rs))
                for k, rs in groups.items() if k[0] + self.size <= w}
        return rows, late

    def produce(self, recs, slices=1, pause=0.0):
        prod = Producer({"bootstrap.servers": self.kafka, "enable.idempotence": True, "linger.ms": 20,
                         "compression.type": self.rng.choice(["none", "lz4", "zstd", "gzip"])})
        per = max(1, len(recs) // slices)
        for j, (p, v, r) in enumerate(recs):
            key = str(r[1]["rideId"]).encode() if r else None
            while True:
                try:
                    prod.produce(self.topic, value=v, key=key, partition=p)
                    break
                except BufferError:
                    prod.poll(0.1)
            prod.poll(0)
            if pause and (j + 1) % per == 0:
                prod.flush(60)
                time.sleep(pause)
        if prod.flush(120) != 0:
            raise RuntimeError("records left unsent")

    # --- jobs -----------------------------------------------------------------------------------

    def cli(self, *args):
        r = subprocess.run([self.a.bin, *args], env=clean_env(), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"rides-connect {' '.join(args)}: exit status {r.returncode}\n{r.stderr}")

    def create_topics(self):
        self.cli("kafka", "topic", "create", "--brokers", self.kafka, "--topic", self.topic, "--partitions", str(self.a.partitions))
        self.cli("kafka", "topic", "create", "--brokers", self.kafka, "--topic", self.dlq, "--partitions", "2",
                 "--config", "max.message.bytes=8388608")

    def config(self):
        if not self.a.edited:
            return self.a.config
        # A user's edit of the shipped config: 1-minute windows, a 2-minute watermark, grouped by
        # (city, userId): many keys.
        s = open(self.a.config).read()
        edits = [("size: 5m", "size: 1m", 2), ("delay: 10m", "delay: 2m", 1),
                 ("                city: this.city\n", "                city: this.city\n                userId: this.userId\n", 1),
                 ("                      root.city = this.city\n", "                      root.city = this.city\n                      root.userId = this.userId\n", 1),
                 ("                        - { name: city, type: string }\n", "                        - { name: city, type: string }\n                        - { name: userId, type: long }\n", 1)]
        for old, new, n in edits:
            if s.count(old) != n:
                sys.exit(f"{self.a.config}: {old!r} occurs {s.count(old)} times, want {n}")
            s = s.replace(old, new)
        path = os.path.join(self.a.work, "edited.yaml")
        open(path, "w").write(s)
        return path

    def env(self, i, extra):
        e = clean_env()
        e.update(KAFKA_BOOTSTRAP=self.kafka, KAFKA_TOPIC=self.topic, KAFKA_START="earliest",
                 KAFKA_INSTANCE_ID=f"r{i}", HTTP_ADDRESS=f"127.0.0.1:{free_port()}", LOG_LEVEL="WARN", **extra)
        return e

    def run_jobs(self, argv, extra, done):
        """Starts --replicas jobs, SIGKILLs one at random --kills times (restarted at once, or
        after 12 s, past its session timeout, when there are several), and returns when done()
        holds or nothing changed for a while."""
        a = self.a
        log = open(os.path.join(a.work, "jobs.log"), "ab")

        def start(i):
            return subprocess.Popen(argv, env=self.env(i, extra), stdout=log, stderr=log)
        self.procs = [start(i) for i in range(a.replicas)]
        for k in range(a.kills):
            time.sleep(self.rng.uniform(0.5, 6.0))
            i = self.rng.randrange(a.replicas)
            self.procs[i].send_signal(signal.SIGKILL)
            self.procs[i].wait()
            away = self.rng.choice([0, 0, 0, 12]) if a.replicas > 1 else 0
            print(f"  SIGKILL {k + 1} of replica {i} at {time.time() - self.t0:.1f}s, back after {away}s", flush=True)
            time.sleep(away)
            self.procs[i] = start(i)
        if self.feeder:
            self.feeder.join()
        last, since = None, time.time()
        deadline = time.time() + a.timeout
        while time.time() < deadline:
            time.sleep(2)
            if any(p.poll() is not None for p in self.procs):
                print("  a job exited:", [p.returncode for p in self.procs])
                break
            ok, state = done()
            if ok:
                break
            if state != last:
                last, since = state, time.time()
            elif time.time() - since > 90:
                break
        self.stop()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def feed(self, recs):
        if self.a.live:
            self.feeder = threading.Thread(target=self.produce, args=(recs, 20, 1.5))
            self.feeder.start()
        else:
            self.produce(recs)

    def dead_letters(self):
        """Distinct (partition, offset) sources in the dead-letter topic, read committed, and how
        many came more than once."""
        c = Consumer({"bootstrap.servers": self.kafka, "group.id": self.topic + "-check", "auto.offset.reset": "earliest",
                      "isolation.level": "read_committed", "enable.auto.commit": False})
        c.subscribe([self.dlq])
        seen, idle = defaultdict(int), 0
        while idle < 8:
            m = c.poll(1.0)
            if m is None:
                idle += 1
                continue
            if m.error():
                continue
            idle = 0
            src = json.loads(m.value()).get("source") or {}
            seen[(src.get("partition"), src.get("offset"))] += 1
        c.close()
        return seen

    # --- the two jobs ---------------------------------------------------------------------------

    def silver(self, recs):
        ref, late = self.reference(recs)
        print(f"  {len(ref)} windows expected, {late} rides late by their partition's progress", flush=True)
        table, checkpoint, s3env, opts = os.path.join(self.a.work, "silver"), os.path.join(self.a.work, "checkpoint"), {}, None
        if self.a.s3_endpoint:
            # The table and the window state on an S3 API server, as a deployment has them.
            table, checkpoint = f"s3a://{self.a.s3_bucket}/{self.topic}/silver", f"s3a://{self.a.s3_bucket}/{self.topic}/checkpoint"
            key, secret = os.environ["BLACKBOX_S3_ACCESS_KEY"], os.environ["BLACKBOX_S3_SECRET_KEY"]
            s3env = dict(S3_ENDPOINT=self.a.s3_endpoint, S3_FORCE_PATH_STYLE="true", AWS_REGION="us-east-1",
                         AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
            opts = {"AWS_ENDPOINT_URL": self.a.s3_endpoint, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                    "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false"}
        extra = dict(KAFKA_GROUP=self.group, DLQ_TOPIC=self.dlq, OUT_DELTA=table, CHECKPOINT=checkpoint, **s3env)

        def rows():
            try:
                return DeltaTable(table.replace("s3a://", "s3://"), storage_options=opts).to_pyarrow_table().to_pylist()
            except Exception:  # not created yet
                return []

        def done():
            n = len(rows())
            return n >= len(ref), n
        self.feed(recs)
        self.run_jobs([self.a.bin, "-c", self.config()], extra, done)
        got, dup = {}, 0
        for r in rows():
            ws = dt.datetime.strptime(r["win_start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
            k = (int(ws), r["city"]) + ((r["userId"],) if self.a.edited else ())
            dup += k in got
            got[k] = (r["revenue"], r["avg_distance"], r["cnt"])
        missing = [k for k in ref if k not in got]
        extra_ = [k for k in got if k not in ref]
        wrong = [k for k in ref if k in got and got[k] != ref[k]]
        print(f"  table: {len(got)} windows; {len(missing)} missing, {len(extra_)} not expected, {len(wrong)} wrong, {dup} twice")
        for k in (missing[:3] + extra_[:3] + wrong[:3]):
            print("   ", k, "want", ref.get(k), "got", got.get(k))
        bad = sum(1 for r in recs if r[2] is None)
        seen = self.dead_letters()
        twice = sum(1 for v in seen.values() if v > 1)
        # config/rides.yaml dead-letters at least once across replicas (docs/scale-out.md); once
        # otherwise.
        once_needed = self.a.replicas == 1
        print(f"  dead letters: {len(seen)} of {bad} malformed records, {twice} more than once")
        return not missing and not extra_ and not wrong and not dup and len(seen) == bad and (twice == 0 or not once_needed)

    def bronze(self, recs):
        want, offs = {}, defaultdict(int)
        for p, _, r in recs:
            if r:
                want[(p, offs[p])] = r
            offs[p] += 1
        table = os.path.join(self.a.work, "bronze")
        extra = dict(BRONZE_GROUP=self.group, BRONZE_DLQ_TOPIC=self.dlq, OUT_BRONZE=table,
                     BRONZE_COMMIT_PERIOD="2s", BRONZE_COMMIT_ROWS="20000")

        def count():
            try:
                return DeltaTable(table).to_pyarrow_table(columns=["kafka_offset"]).num_rows
            except Exception:
                return 0

        def done():
            n = count()
            return n >= len(want), n
        self.feed(recs)
        self.run_jobs([self.a.bin, "-c", self.a.config], extra, done)
        seen, wrong = defaultdict(int), 0
        rows = DeltaTable(table).to_pyarrow_table().to_pylist() if count() else []
        for row in rows:
            k = (row["kafka_partition"], row["kafka_offset"])
            seen[k] += 1
            ev, ride = want.get(k, (None, None))
            ts = row["ts"] if row["ts"].tzinfo else row["ts"].replace(tzinfo=dt.timezone.utc)
            ok = ride is not None and ts == dt.datetime.fromtimestamp(ev, dt.timezone.utc) and \
                row["event_date"] == ts.date() and row["city"] == ride["city"].upper() and \
                all(row[f] == ride[f] for f in ("rideId", "userId", "distanceKm", "price"))
            if not ok:
                wrong += 1
                if wrong <= 3:
                    print("    row", row, "want", ride)
        missing = sum(1 for k in want if k not in seen)
        twice = sum(1 for v in seen.values() if v > 1)
        print(f"  table: {len(rows)} rows of {len(want)} rides; {missing} missing, {twice} twice, {wrong} wrong")
        return not missing and not twice and not wrong

    def main(self):
        self.t0 = time.time()
        a = self.a
        print(f"{a.mode} {os.path.basename(a.config)}{' (edited)' if a.edited else ''}{' on S3' if a.s3_endpoint else ''}: seed {a.seed}, {a.rides} records on "
              f"{a.partitions} partitions, disorder {a.disorder_min} min, {a.replicas} replica(s), {a.kills} SIGKILLs, "
              f"{'live' if a.live else 'backlog from earliest'}", flush=True)
        recs = self.generate()
        self.create_topics()
        try:
            ok = self.silver(recs) if a.mode == "silver" else self.bronze(recs)
        finally:
            self.stop()
        print(f"  {'PASS' if ok else 'FAIL'} in {time.time() - self.t0:.0f}s", flush=True)
        return ok


def clean_env():
    """The environment without the broker's SASL_SSL settings and any cloud settings, so that the
    binary reads the job's variables alone (plaintext, local disk)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "AWS_", "S3_"))}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["silver", "bronze"])
    p.add_argument("--bin", required=True)
    p.add_argument("--config", help="default: config/rides.yaml (silver), config/bronze.yaml (bronze)")
    p.add_argument("--edited", action="store_true", help="silver: 1-minute windows, 2-minute watermark, grouped by (city, userId)")
    p.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 30))
    p.add_argument("--rides", type=int, default=150_000)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--disorder-min", type=float, default=8)
    p.add_argument("--kills", type=int, default=4)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--live", action="store_true", help="produce while the jobs run, instead of a backlog first")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the table after the last SIGKILL")
    p.add_argument("--work", required=True)
    p.add_argument("--s3-endpoint", help="silver: the table and the checkpoint on this S3 API server (path-style; keys in "
                   "BLACKBOX_S3_ACCESS_KEY / BLACKBOX_S3_SECRET_KEY)")
    p.add_argument("--s3-bucket", default="lake")
    a = p.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a.config = a.config or os.path.join(root, "config", "rides.yaml" if a.mode == "silver" else "bronze.yaml")
    a.size_min, a.delay_min = (1, 2) if a.edited else (5, 10)
    return a


if __name__ == "__main__":
    sys.exit(0 if Run(parse(sys.argv[1:])).main() else 1)
