"""The runtime: what turns core events into routing across sites (ARCHITECTURE.md, "The
shape"). `rounds` is the one implementation of a round (events to the sites that own them,
then Best Service Routing between them: balance on arrival, pulls, interflow); it asks the
sites through a backend: `local_sites` (SiteStates in this process: the in-process runtime
and the simulator) or `ray_sites` (Ray site actors)."""
