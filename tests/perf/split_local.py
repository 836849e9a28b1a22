#!/usr/bin/env python3
"""split_local.py — variants of config/rides.yaml that cut it after a stage, to
split one replica's cost (docs/benchmarks.md, "Session 25"). Writes, into the directory given:

  local.yaml       the config as it is (re-serialised, for an equal comparison)
  stage1only.yaml  stage 1 alone: the rides input only, bundles to `drop` (the output resource
                   window_local writes them to), no stage 2 outputs
  nodelta.yaml     both stages, stage 2's rows to `drop` instead of delta_lake

They write no table (but local.yaml): measure them with `run.sh rss -rides-only`. Needs PyYAML.
Usage: tests/perf/split_local.py DIR
"""
import copy
import re
import sys
from pathlib import Path

import yaml

repo = Path(__file__).resolve().parents[2]
raw = (repo / "config/rides.yaml").read_text()
# ${ENV:default} is Benthos' interpolation, not YAML: kept as opaque tokens.
envs = []


def hide(m):
    envs.append(m.group(0))
    return f"ENVX{len(envs) - 1}XENV"


base = yaml.safe_load(re.sub(r"\$\{[^}]*\}", hide, raw))


def dump(conf, name):
    s = yaml.safe_dump(conf, sort_keys=False, width=1000)
    s = re.sub(r"'ENVX(\d+)XENV'", lambda m: '"' + envs[int(m.group(1))] + '"', s)
    s = re.sub(r"ENVX(\d+)XENV", lambda m: envs[int(m.group(1))], s)
    (Path(sys.argv[1]) / f"{name}.yaml").write_text(s)


def cases(conf):
    return conf["output"]["switch"]["cases"]


dump(copy.deepcopy(base), "local")

c = copy.deepcopy(base)
c["input"] = {"label": "rides_in", "kafka_franz": c["input"]["broker"]["inputs"][0]["kafka_franz"]}
kept = []
for case in cases(c):
    label = case["output"].get("label")
    if label in ("dead_letter_merge", "merge_changelog", "rides_agg"):
        continue
    if label in ("repartition", "repartition_inline"):
        case["output"] = {"drop": {}}
    kept.append(case)
c["output"]["switch"]["cases"] = kept
# Stage local writes its bundles to this output resource itself (bundles.output).
c["output_resources"] = [{"label": r["label"], "drop": {}} if r["label"] == "repartition" else r
                         for r in c.get("output_resources", [])]
c["cache_resources"] = [r for r in c["cache_resources"] if r["label"] != "merge_state"]
dump(c, "stage1only")

c = copy.deepcopy(base)
for case in cases(c):
    if case["output"].get("label") == "rides_agg":
        case["output"] = {"label": "rides_agg", "drop": {}}
dump(c, "nodelta")
