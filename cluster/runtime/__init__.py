"""The runtime: what turns core events into routing across sites (ARCHITECTURE.md, "The
shape"). `cross_site` holds the one implementation of the cross-site decisions (Best
Service Routing on arrival, pulls, interflow) for sites held in this process."""
