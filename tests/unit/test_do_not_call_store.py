"""The do-not-call lists and the center's number secret in the store (revision 0007):
keys only, changes all or none with what really changed, the secret made once."""

from __future__ import annotations

import sqlalchemy as sa

from cluster.campaigns.do_not_call_store import DoNotCallStore, phone_key_secret
from cluster.phone_keys import phone_key
from cluster.store import open_engine, upgrade


def _engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    return engine


def test_the_secret_is_made_once_and_kept(tmp_path):
    engine = _engine(tmp_path)
    secret = phone_key_secret(engine)
    assert len(secret) == 32
    assert phone_key_secret(engine) == secret
    engine.dispose()
    assert phone_key_secret(_engine(tmp_path)) == secret     # a restart: the same one


def test_lists_change_by_scope_and_say_what_changed(tmp_path):
    engine = _engine(tmp_path)
    lists = DoNotCallStore(engine)
    secret = phone_key_secret(engine)
    a, b, c = (phone_key(secret, f"+1212555000{n}") for n in range(3))
    assert lists.change("", add=[a, b, a]) == ((a, b), (), 2)
    assert lists.change("", add=[b, c], remove=[]) == ((c,), (), 3)
    assert lists.change("c1", add=[a]) == ((a,), (), 1)
    assert lists.change("", remove=[a, a]) == ((), (a,), 2)
    assert lists.change("", remove=[a]) == ((), (), 2)
    assert lists.keys("") == {b, c} and lists.keys("c1") == {a}
    assert (lists.count(""), lists.count("c1"), lists.count("c2")) == (2, 1, 0)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT key FROM do_not_call")).scalars().all()
    assert all(isinstance(key, bytes) and len(key) == 16 for key in stored)
