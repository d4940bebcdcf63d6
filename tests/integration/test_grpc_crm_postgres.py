"""The Crm service on a PostgreSQL customer store (127.0.0.1:5432, a schema of the test's
own): the checks of test_grpc_crm.py through a real server on loopback. Without a server the
tests fail when CI is set and skip elsewhere."""

import pytest

from tests.integration import test_grpc_crm as checks
from tests.integration.postgres import bare_engine, engine  # noqa: F401 (fixtures)
from tests.integration.test_grpc_crm import crm_cluster  # noqa: F401 (on this `engine`)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("check", [
    checks.check_put_then_get, checks.check_a_number_of_another_customer_is_refused,
    checks.check_search_customers, checks.check_search_interactions, checks.check_notes,
    checks.check_concurrent_puts])
def test_on_postgres(crm_cluster, engine, check):  # noqa: F811 (the fixtures above)
    assert engine.dialect.name == "postgresql"
    check(crm_cluster, engine)
