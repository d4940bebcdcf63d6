"""The configuration tables (sites, skills, agents, agent skills, objectives: configs.py) as
`vcc serve --db` keeps them: written from the router's own configuration when it starts
serving (a restart, each term of a leader) and again shortly after each Admin change of a
site, skill or agent, so that reports read which agents have which skill (`vcc report --by
skill`, `--by campaign`'s agent time) from a store a live server filled.

The journal stays what recovery trusts; these tables only describe the center now. The
first write of a term replaces every site's rows (another server may have written them);
after it, an Admin change names its site, and only that site is read from the host and only
its skills, agents and objectives that differ from what this server last wrote are written
(`save_site_changes`: a center of 50,000 agents changes one at a time). Writes run off the
event loop, one transaction per site; changes that come in a burst (an import of agents
through Admin) are written once, `delay_s` after the first.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from cluster.store.configs import SITES, save_site_changes, save_sites
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
        # What the tables hold as this server last wrote them: site -> (SiteConfig,
        # objectives); None: unknown (nothing written yet, or a new term): rewrite all.
        self._written: dict | None = None
        self._dirty: set | None = set()     # sites changed since the last write (None: all)
        self.writes = 0             # completed writes (tests, logs)
        self.rows_written = 0       # rows a write after the first wrote or deleted (tests)

    async def write(self, host, sites=None) -> None:
        """The sites of `host` named in `sites` (None: every site, rewritten in full) as
        they are configured now; rows of sites it no longer has are deleted."""
        names = host.site_names()
        current = []
        for name in names if sites is None else [name for name in names if name in sites]:
            skills = [await host.skill(name, skill) for skill in await host.skills_of(name)]
            agents = [config for config, _ in await host.agents_of(name)]
            base = self.config.sites.get(name)
            options = {} if base is None else {
                "auto_pause_after_misses": base.auto_pause_after_misses,
                "statistics_window_s": base.statistics_window_s}
            current.append((SiteConfig(name, tuple(skills), tuple(agents), **options), {
                skill.name: dict(skill.service_objectives) for skill in skills
                if skill.service_objectives}))
        await asyncio.to_thread(self._save, current, set(names), sites is None)
        self.writes += 1

    def _save(self, sites, names: set, full: bool) -> None:
        written = {} if full or self._written is None else self._written
        self._written = None        # unknown until this write is through
        with self.engine.connect() as connection:
            stored = set(connection.execute(sa.select(SITES.c.name)).scalars())
        gone = sorted(stored - names)
        if gone:
            # save_sites deletes the rows of the sites it is given before writing them.
            save_sites(self.engine, [SiteConfig(name) for name in gone])
            with self.engine.begin() as connection:
                connection.execute(SITES.delete().where(SITES.c.name.in_(gone)))
        for name in gone:
            written.pop(name, None)
        for config, objectives in sites:
            before = written.get(config.name)
            if before is None or config.name not in stored:
                save_sites(self.engine, [config], objectives)
            else:
                self.rows_written += save_site_changes(self.engine, before[0], config,
                                                       before[1], objectives)
            written[config.name] = (config, objectives)
        self._written = written

    def changed(self, host, site: str | None = None) -> None:
        """An Admin change of `site` (its skills or agents; None: of which site is not
        known, or a new term: every site, rewritten in full): written `delay_s` from now
        (one write for a burst of changes)."""
        if site is None:
            self._dirty, self._written = None, None
        elif self._dirty is not None:
            self._dirty.add(site)
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.get_running_loop().create_task(self._later(host))

    async def _later(self, host) -> None:
        # Bounded by the changes: a pass is made again only for changes that came during
        # the one before (they found it pending and scheduled nothing).
        while True:
            await asyncio.sleep(self.delay_s)
            sites, self._dirty = self._dirty, set()
            try:
                await self.write(host, None if sites is None or self._written is None
                                 else sites)
            except Exception as error:  # noqa: BLE001 - reports only; the journal has it all
                self._dirty = None      # what the tables hold is not known: all next time
                log.warning("configuration tables not written: %s: %s",
                            type(error).__name__, error)
                return
            if self._dirty == set():
                return

    async def close(self) -> None:
        """Write what a pending change left (a clean stop), then stop."""
        task, self._pending = self._pending, None
        if task is not None and not task.done():
            await task
