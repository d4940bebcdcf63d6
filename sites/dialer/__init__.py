"""Outbound dialling (SPEC §6): the pure pacing of a campaign, events in, decisions out.

`Campaign` (campaign.py) is one campaign's pacer: the host feeds it what happened to the
calls it asked for (events.py: answered live or by a machine, busy, no answer, connected to
an agent, abandoned, ended) and, at the moments it names, a `Pace` carrying a snapshot of
the agents of its skill (snapshot.py); it answers with decisions (decisions.py: dial this
record, preview it to that agent, release an agent). Time comes in with the events; the
same events in the same order give the same decisions, so `vcc simulate` and a live
runtime dial the same way.

One job a module: configuration (config.py), the list of records (call_list.py), what is
learnt of the calls (estimates.py), the abandon budget and its hard guard (ledger.py), the
model-based prediction of abandons (predict.py), the baseline adaptive dial level in the
style of VICIdial's AST_VDadapt (adaptive.py).
"""
