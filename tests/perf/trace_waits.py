#!/usr/bin/env python3
"""trace_waits.py — where the pipeline of a rides-connect Go execution trace waits.

Usage: go tool trace -d=parsed trace-<pid>.out > parsed.txt; tests/perf/trace_waits.py parsed.txt

The trace comes from RIDES_CONNECT_TRACE_DIR=dir (cmd/rides-connect/trace.go: the whole
process, start to exit). Over the steady state (first to last batch through tumbling_window)
it prints how many goroutines were running on average (of GOMAXPROCS) and, for the
pipeline threads (PL: goroutines that ran the window), Benthos' input loop (RD) and, in the
read-ahead build tried on branch w-wall (8b9a26f, not shipped), the read-ahead goroutine (AH),
the time spent blocked by the line they blocked at:
  pipeline/processor.go:63    a pipeline thread waits for the input's next batch
  pipeline/processor.go:74    a thread inside its processors (e.g. from_json's parse workers)
  input/async_reader.go:208   the input's batch waits for a free pipeline thread
  input/async_reader.go:161   Benthos' ReadBatch waits (read-ahead build: for its next batch)
  kafkafranz/reader.go:197    the reader waits for the Kafka client's next fetch
  kafkafranz/reader_ahead.go  read-ahead build: its batches built, waiting for ReadBatch
Line numbers are Benthos v4.60's and this repo's at the time of writing (docs/benchmarks.md,
"Where the wall goes").
"""
import collections
import re
import sys

EVENT = re.compile(r'^M=-?\d+ P=-?\d+ G=(-?\d+) StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+)')
WATCH = ('pipeline/processor.go:', 'input/async_reader.go:', 'reader_ahead.go:', 'kafkafranz/reader.go:')


def main(path):
    t0 = None
    kind = {}                        # goroutine -> PL | RD | AH
    state = {}                       # goroutine -> (state, since, where it blocked)
    runs, waits = [], collections.defaultdict(list)
    window = [None, None]
    cur, stack = None, []

    def finish():
        if not cur:
            return
        g, ts, to, own = cur
        if own:  # the stack is g's own only when g made the transition
            if any('window.(*processor)' in f for f in stack):
                kind[g] = 'PL'
                window[0] = ts if window[0] is None else window[0]
                window[1] = ts
            elif g not in kind and any('AsyncReader).loop @' in f for f in stack):
                kind[g] = 'RD'
            elif any('startReadAhead.func1' in f for f in stack):
                kind[g] = 'AH'
        if g in state:
            st, since, where = state[g]
            if st == 'Running':
                runs.append((since, ts))
            elif st == 'Waiting':
                waits[g].append((since, ts, where))
        where = None
        if to == 'Waiting' and own:
            where = next((f.split('/')[-1] for f in stack if any(w in f for w in WATCH)), None)
        state[g] = (to, ts, where)

    with open(path) as f:
        for line in f:
            if line.startswith('M='):
                finish()
                cur, stack = None, []
                m = EVENT.match(line)
                if m:
                    t = int(m.group(2))
                    t0 = t0 or t
                    cur = (int(m.group(3)), (t - t0) / 1e9, m.group(5), m.group(1) == m.group(3))
            elif cur and line.startswith('\t'):
                stack.append(line.strip())
    finish()
    lo, hi = window
    if lo is None:
        sys.exit('no batch went through tumbling_window in this trace')
    span = hi - lo
    clip = lambda a, b: max(0.0, min(b, hi) - max(a, lo))
    busy = sum(clip(a, b) for a, b in runs)
    count = collections.Counter(kind.values())
    print(f'steady state {lo:.2f}..{hi:.2f} s ({span:.2f} s); on average {busy / span:.2f} goroutines running')
    print('goroutines:', dict(count))
    total = collections.defaultdict(float)
    for g, ws in waits.items():
        if g in kind:
            for a, b, where in ws:
                if where:
                    total[(kind[g], where)] += clip(a, b)
    for (k, where), v in sorted(total.items(), key=lambda x: -x[1]):
        if v >= 0.01 * span:
            print(f'{k} {where:28} {v:7.2f} s = {v / span:.2f} goroutine-s per s')


if __name__ == '__main__':
    main(sys.argv[1])
