"""Ray actors that host the routing core (SPEC §4): one `SiteActor` per site, one
`VirtualCenterActor` for Best Service Routing across sites, and the handles and batcher
through which everything else calls them (`actors.handles`, the only user of Ray here).
"""
