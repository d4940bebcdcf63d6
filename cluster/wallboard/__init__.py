"""The live wallboard (SPEC §11): `vcc serve --http-port N` serves a page with each skill's and
site's service level against target, queues by priority, oldest wait, EWT, agents by state,
abandons, an alert for a skill below target, and the marketing ranking and campaign figures
when there are any; boards are pushed as server-sent events every 0.5 s.

board.py reads a board from a host (the figures GetStatistics answers), feed.py shares one
reader among every page, endpoint.py is the aiohttp server, static/ the page (no build step).
Without the flag nothing here is imported.
"""

from cluster.wallboard.endpoint import Wallboard, WallboardListenError, tls_context

__all__ = ["Wallboard", "WallboardListenError", "tls_context"]
