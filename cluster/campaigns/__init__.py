"""Outbound campaigns in the live cluster (SPEC §6): what Admin puts (definition.py), the
lists and configurations in the customer store (store.py; the numbers are personal data,
they stay there and in the PBX's `dial` action), the checks of a list row (rows.py), the one
implementation of hosting a campaign's pacer in either runtime (hosting.py), and `vcc
campaign` (command.py). The pacing itself is the core's (sites/dialer/).
"""
