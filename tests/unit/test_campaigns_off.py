"""Admin's campaign calls say why they cannot run: no store, or a host that cannot run
campaigns (the --etcd leader gate), not one message for both."""

import pytest

from cluster.servicers.admin import AdminServicer
from cluster.servicers.errors import RequestError


@pytest.mark.parametrize("has_store, says", [
    (False, "start vcc serve with --db"),
    (True, "do not run under --etcd leadership"),
])
def test_campaign_calls_say_why_they_cannot_run(has_store, says):
    servicer = AdminServicer(host=None, campaigns=None, has_store=has_store)
    with pytest.raises(RequestError) as refused:
        servicer._store()
    assert says in str(refused.value.problem)
    assert refused.value.code.name == "FAILED_PRECONDITION"
