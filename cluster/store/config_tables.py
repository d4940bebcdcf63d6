"""The configuration tables (sites, skills, agents, agent skills, objectives: configs.py) as
`vcc serve --db` keeps them: written from the router's own configuration when it starts
serving (a restart, each term of a leader) and again shortly after each Admin change of a
site, skill or agent, so that reports read which agents have which skill (`vcc report --by
skill`, `--by campaign`'s agent time) from a store a live server filled.

The journal stays what recovery trusts; these tables only describe the center now. A write
replaces every site's rows in one transaction per site, off the event loop; changes that
come in a burst (an import of agents through Admin) are written once, `delay_s` after the
first.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from cluster.store.configs import SITES, save_sites
from sites.model import SiteConfig

log = logging.getLogger(__name__)


class ConfigTables:
    def __init__(self, engine, config, *, delay_s: float = 1.0):
        """`config`: the server's ClusterConfig (a site's settings the host does not
        publish, its auto-pause and statistics window, come from there)."""
        self.engine = engine
        self.config = config
        self.delay_s = delay_s
        self._pending: asyncio.Task | None = None
        self.writes = 0             # completed writes (tests, logs)

    async def write(self, host) -> None:
        """Every site of `host` as it is configured now; rows of sites it no longer has
        are deleted."""
        sites = []
        for name in host.site_names():
            skills = [await host.skill(name, skill) for skill in await host.skills_of(name)]
            agents = [config for config, _ in await host.agents_of(name)]
            base = self.config.sites.get(name)
            options = {} if base is None else {
                "auto_pause_after_misses": base.auto_pause_after_misses,
                "statistics_window_s": base.statistics_window_s}
            sites.append((SiteConfig(name, tuple(skills), tuple(agents), **options), {
                skill.name: dict(skill.service_objectives) for skill in skills
                if skill.service_objectives}))
        await asyncio.to_thread(self._save, sites)
        self.writes += 1

    def _save(self, sites) -> None:
        names = {config.name for config, _ in sites}
        with self.engine.connect() as connection:
            stored = set(connection.execute(sa.select(SITES.c.name)).scalars())
        gone = sorted(stored - names)
        if gone:
            # save_sites deletes the rows of the sites it is given before writing them.
            save_sites(self.engine, [SiteConfig(name) for name in gone])
            with self.engine.begin() as connection:
                connection.execute(SITES.delete().where(SITES.c.name.in_(gone)))
        for config, objectives in sites:
            save_sites(self.engine, [config], objectives)

    def changed(self, host) -> None:
        """An Admin change of a site, skill or agent: written `delay_s` from now (one write
        for a burst of changes)."""
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.get_running_loop().create_task(self._later(host))

    async def _later(self, host) -> None:
        await asyncio.sleep(self.delay_s)
        try:
            await self.write(host)
        except Exception as error:      # noqa: BLE001 - reports only; the journal has it all
            log.warning("configuration tables not written: %s: %s", type(error).__name__,
                        error)

    async def close(self) -> None:
        """Write what a pending change left (a clean stop), then stop."""
        task, self._pending = self._pending, None
        if task is not None and not task.done():
            await task
