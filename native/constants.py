"""Integer codes shared by both scheduler backends and the site core.

The scheduler works on small integers so the compiled backend never touches Python
objects on its hot path; `sites.model` maps the SPEC §2 names onto these codes.
"""

# Priorities: a lower code is always served first (Avaya vector queue priorities).
PRIORITY_TOP = 0
PRIORITY_HIGH = 1
PRIORITY_MEDIUM = 2
PRIORITY_LOW = 3
PRIORITY_COUNT = 4

CHANNEL_VOICE = 0
CHANNEL_CHAT = 1
CHANNEL_EMAIL = 2
CHANNEL_SMS = 3
CHANNEL_CALLBACK = 4
CHANNEL_OUTBOUND = 5
CHANNEL_COUNT = 6
ALL_CHANNELS_MASK = (1 << CHANNEL_COUNT) - 1

QUEUEING_DQP = 0
QUEUEING_FIFO = 1

SELECT_LONGEST_IDLE = 0
SELECT_LEAST_OCCUPIED = 1
SELECT_BEST_SKILL = 2
SELECT_ROUND_ROBIN = 3

CALL_SELECT_GREATEST_NEED = 0
CALL_SELECT_SKILL_LEVEL = 1

# A skill distinguishes at most this many service objectives; DQP compares the head of
# every class, so the bound keeps routing O(1) in the number of queued contacts.
MAX_SO_CLASSES = 16

MIN_LEVEL = 1
MAX_LEVEL = 16

NO_CONTACT = -1
NO_AGENT = -1
