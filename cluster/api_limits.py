"""The size limits of the vcc.v1 API (README, "The gRPC API"), in one place for both sides.

The server refuses a request field past its limit with INVALID_ARGUMENT naming the field
and changes nothing (cluster/servicers/convert.py); the Python client (cluster/client.py)
keeps the CallControl messages it sends under MAX_MESSAGE_BYTES, as the server does with
the ones it sends. No imports: the client, the servicers and the load tests share it.

Why these numbers (issue 15: 40 contacts carrying 3.9 MB of attached data added 178 MiB
to the router's memory and 156 MB to its SQLite store; a replay batch of offers grew past
gRPC's 4 MiB receive limit and the PBX link could never resume):
- ids from the outside world (contact, agent, link and customer ids) fit the store's
  128-character columns; site and skill names and reason codes its 64-character ones
  (PostgreSQL refuses longer values, and a refused write stops the router);
- ANI and DNIS are phone numbers or short SIP user parts;
- attached data is a screen pop, not a document;
- one CallControl message stays well under gRPC's default 4 MiB receive limit on either
  side, whatever the batch: one event or action is at most about 20 KiB with the limits
  above, so a message holds at least 50 of them.
"""

MAX_ID = 128                  # characters: contact, agent, link and customer ids
MAX_NAME = 64                 # characters: site and skill names, reason codes
MAX_PHONE = 32                # characters: ANI, DNIS
MAX_NOTES = 4000              # characters: an agent's notes on a contact, a customer note
MAX_OFFER_RESULTS = 16        # offer results in one disposition
MAX_DATA_KEYS = 64            # attached data entries per contact
MAX_DATA_BYTES = 16 * 1024    # attached data per contact: keys and values, UTF-8 bytes
MAX_MESSAGE_BYTES = 1 << 20   # one CallControl message (PbxMessage or RouterMessage)

# Crm (README, "The gRPC API"): a customer is a profile, not a directory; a reply is a page.
MAX_CUSTOMER_NUMBERS = 32     # phone numbers, and account numbers, of one customer
MAX_CUSTOMERS_PAGE = 1000     # customers in one SearchCustomers reply (0: 100)
MAX_INTERACTIONS_PAGE = 10_000    # interactions in one SearchInteractions reply (0: 100)
MAX_NOTES_LISTED = 1000       # notes in one ListNotes reply: the newest
