"""Customers and inbound marketing data (SPEC §7, issue 18): who is calling and what to offer.

- `phones`: phone numbers to E.164, the form the store keys on;
- `store`: `CustomerStore`, blocking profile lookups by ANI, account number and customer id
  (one query each), and `Profile`;
- `directory`: `CustomerDirectory`, the async face the gateway uses (its own threads, a
  bounded TTL cache, the default tier when nobody or nothing answers);
- `cache`: the bounded LRU cache with a TTL;
- `csv_rows`, `importer`, `command`: `vcc customers import` and `vcc marketing
  import-targets` (strict, all or nothing, idempotent);
- `history`: interactions, notes, offers and outcomes written and searched.

The tables are in cluster/store/models.py (revision 0004), with the rest of the schema.
"""
