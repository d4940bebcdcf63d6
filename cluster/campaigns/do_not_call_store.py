"""Do-not-call lists and the center's number secret in the customer store (revision 0007).
Blocking calls: the servicers run them off the event loop (servicers/errors.in_store).

The lists hold keyed hashes only (cluster/phone_keys.py): the store, like the core, never
sees a number of a do-not-call list in clear. The key of those hashes is a secret of the
center made once here, so that the keys of the lists and of the campaigns' records stay
comparable across restarts.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from cluster.store.models import CenterSecret, DoNotCallEntry

_SECRETS = CenterSecret.__table__
_ENTRIES = DoNotCallEntry.__table__
PHONE_KEY = "phone_key"
SECRET_BYTES = 32
GLOBAL_SCOPE = ""           # the scope of the global list; a campaign's is its name
_IN_BATCH = 500             # bound the IN lists


def phone_key_secret(engine) -> bytes:
    """The center's secret for the numbers' keyed hashes, made on the first call."""
    with engine.begin() as connection:
        found = connection.execute(sa.select(_SECRETS.c.value).where(
            _SECRETS.c.name == PHONE_KEY)).scalar()
        if found is not None:
            return bytes(found)
    try:
        with engine.begin() as connection:
            connection.execute(_SECRETS.insert().values(
                name=PHONE_KEY, value=secrets.token_bytes(SECRET_BYTES)))
    except sa.exc.IntegrityError:
        pass        # another server made it first: theirs is the one
    with engine.connect() as connection:
        return bytes(connection.execute(sa.select(_SECRETS.c.value).where(
            _SECRETS.c.name == PHONE_KEY)).scalar_one())


class DoNotCallStore:
    def __init__(self, engine):
        self.engine = engine

    def change(self, scope: str, add=(), remove=()) -> tuple:
        """Add `add` and remove `remove` (keys) of list `scope`, all or none: (the keys
        really added, the keys really removed, the list's size now)."""
        add, remove = list(dict.fromkeys(add)), list(dict.fromkeys(remove))
        with self.engine.begin() as connection:
            present = self._present(connection, scope, add + remove)
            added = [key for key in add if key not in present]
            removed = [key for key in remove if key in present]
            if added:
                connection.execute(_ENTRIES.insert(), [{"scope": scope, "key": key}
                                                       for key in added])
            for start in range(0, len(removed), _IN_BATCH):
                connection.execute(_ENTRIES.delete().where(
                    _ENTRIES.c.scope == scope,
                    _ENTRIES.c.key.in_(removed[start:start + _IN_BATCH])))
            size = connection.execute(sa.select(sa.func.count()).where(
                _ENTRIES.c.scope == scope)).scalar()
        return tuple(added), tuple(removed), size

    @staticmethod
    def _present(connection, scope: str, keys: list) -> set:
        present = set()
        for start in range(0, len(keys), _IN_BATCH):
            present.update(bytes(key) for key in connection.execute(sa.select(
                _ENTRIES.c.key).where(_ENTRIES.c.scope == scope,
                                      _ENTRIES.c.key.in_(keys[start:start + _IN_BATCH]))
                ).scalars())
        return present

    def count(self, scope: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).where(
                _ENTRIES.c.scope == scope)).scalar()

    def keys(self, scope: str) -> frozenset:
        with self.engine.connect() as connection:
            return frozenset(bytes(key) for key in connection.execute(sa.select(
                _ENTRIES.c.key).where(_ENTRIES.c.scope == scope)).scalars())
