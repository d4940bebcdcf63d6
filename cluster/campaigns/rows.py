"""The checks of one row of a campaign's list, shared by `vcc campaign import` (which names
file, line and column) and `Admin.ImportCampaignList` (which names `rows[i].column`).
Numbers are never repeated in clear in a problem (cluster/customers/csv_rows.py masks them)."""

from __future__ import annotations

from cluster.customers import csv_rows
from sites.calendars import zone
from sites.errors import InvalidInput

COLUMNS = ("id", "phone", "timezone", "customer_id")
REQUIRED = ("id", "phone")
MAX_ID = 128
MAX_ROWS_PER_CALL = 10_000


class RowError(ValueError):
    def __init__(self, column: str, problem: str):
        super().__init__(f"{column}: {problem}")
        self.column = column
        self.problem = problem


def checked(record_id: str, phone: str, timezone: str = "", customer_id: str = "") -> tuple:
    """(id, E.164 number, time zone or None, customer id or None), or RowError naming the
    column."""
    try:
        record_id = csv_rows.text(record_id, MAX_ID, required=True)
    except ValueError as error:
        raise RowError("id", str(error)) from None
    try:
        number = csv_rows.phone(phone, None)
    except ValueError as error:
        raise RowError("phone", str(error)) from None
    if timezone:
        try:
            zone(timezone, "timezone")
        except InvalidInput as error:
            raise RowError("timezone", error.problem) from None
    try:
        customer_id = csv_rows.text(customer_id, MAX_ID) if customer_id else None
    except ValueError as error:
        raise RowError("customer_id", str(error)) from None
    return record_id, number, timezone or None, customer_id or None
