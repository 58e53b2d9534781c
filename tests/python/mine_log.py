"""Opens an event log Ravand exported, as an auditor would in PM4Py.

Usage: mine_log.py DIR, where DIR holds log.xes, log.csv, log.ocel.json and
net.pnml (written by tests/it/eventlog.rs from `GET /processes/{id}/log` and
`ravand render --format pnml`). Each step fails loudly:

- the XES and the CSV read, with the same cases and events;
- inductive-miner discovery on both;
- token-based replay of the work done (the `complete` events of tasks and
  steps, by `ravand:step`) on the definition's own Petri net: every trace
  must fit, since the engine ran the cases on that definition;
- the handover-of-work network (by `org:resource`) from both;
- the OCEL 2.0 file reads with its cases, tasks and people.
"""

import os
import sys

import pandas as pd
import pm4py


def main(d: str) -> None:
    log = pm4py.read_xes(os.path.join(d, "log.xes"), return_legacy_log_object=False)
    frame = pd.read_csv(os.path.join(d, "log.csv"), dtype={"case:concept:name": str})
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True)
    frame = pm4py.format_dataframe(
        frame, case_id="case:concept:name", activity_key="concept:name", timestamp_key="time:timestamp"
    )
    xes_cases = sorted(set(log["case:concept:name"].astype(str)))
    csv_cases = sorted(set(frame["case:concept:name"].astype(str)))
    assert xes_cases == csv_cases, (xes_cases[:5], csv_cases[:5])
    assert len(log) == len(frame), (len(log), len(frame))
    print(f"read: {len(xes_cases)} cases, {len(log)} events (XES and CSV)")

    for name, data in (("XES", log), ("CSV", frame)):
        net, im, fm = pm4py.discover_petri_net_inductive(data)
        print(f"inductive miner on the {name}: {len(net.transitions)} transitions, {len(net.places)} places")

    work = log[
        (log["lifecycle:transition"] == "complete")
        & log["ravand:event"].isin(["task-completed", "step-completed"])
    ].copy()
    work["concept:name"] = work["ravand:step"]
    net, im, fm = pm4py.read_pnml(os.path.join(d, "net.pnml"))
    fitness = pm4py.fitness_token_based_replay(work, net, im, fm)
    print(f"token replay on the definition's net: {fitness}")
    finished = work.groupby("case:concept:name").size()
    assert fitness["log_fitness"] > 0.0, fitness
    # Open cases stop part-way (tokens left); the finished ones must fit.
    ended = set(log[log["ravand:event"] == "completed"]["case:concept:name"])
    done = work[work["case:concept:name"].isin(ended)]
    if len(done):
        fit = pm4py.fitness_token_based_replay(done, net, im, fm)
        print(f"token replay of the {len(ended)} finished cases: {fit}")
        assert fit["perc_fit_traces"] == 100.0, fit
    print(f"work events per case: up to {finished.max()}")

    for name, data in (("XES", log), ("CSV", frame)):
        sna = pm4py.discover_handover_of_work_network(data)
        print(f"handover of work from the {name}: {len(sna.connections)} handovers")

    ocel = pm4py.read_ocel2_json(os.path.join(d, "log.ocel.json"))
    types = sorted(set(ocel.objects["ocel:type"]))
    assert types == ["case", "person", "task"], types
    print(f"OCEL 2.0: {len(ocel.events)} events, {len(ocel.objects)} objects of {types}")


if __name__ == "__main__":
    main(sys.argv[1])
