"""`vcc report`: interval and daily reports from the store (SPEC §8, issue 6).

Per interval (15 minutes by default, `--interval 1d` for daily) and per skill, site (of
entry), class (skill/priority/SO), agent, service, dialled number (DNIS) or the callers'
customer tier: offered,
answered, abandoned, SL, SL2, ASA, AHT, wrap-up, occupancy, not-ready time by reason and
the EWT prediction error; by service or DNIS also what became of the callers (SPEC §10).

The database does the work: one GROUP BY over contact records and one over agent state
intervals return a few sums per (interval, group); only those sums come to Python, where the
ratios are taken. A contact counts in the interval it arrived in (whatever happened to it
later), so SL and ASA describe the callers of that interval. Agent time is split across the
intervals it spans.

Definitions (SPEC §2):
- a contact's wait = answer time - when its wait for an agent began: its routing plan's
  first queue step (or the offer, when an agent was free at once), `queue_time`; for a
  plain contact, which arrives in a skill, its first arrival in the center;
- SL = answered within the skill's threshold / answered; SL2 = the same / (answered +
  abandoned); ASA = mean wait of answered contacts;
- AHT = mean (talk + wrap-up) of completed contacts; wrap-up = their mean wrap-up time;
- occupancy = (busy + wrap-up time) / logged-in time; agents count for every skill they have;
- EWT error = actual wait - EWT announced at the first queue treatment, over answered contacts
  that were queued with a known EWT (mean, and mean of its absolute value); its RMSE, the
  RMSE of the best predictor that knows only the place in the queue (the mean wait of those
  contacts at each place, fitted on them), the ratio of the two and the mean error as a
  percentage of their mean wait (SPEC §8's EWT targets: ratio <= 1.10, |bias| <= 5 %). The
  place-only figure needs wait sums per place: a second GROUP BY adds the place.

Contacts a routing plan never queued (self-served, busy, routed out, voicemail,
disconnected, or hung up in the IVR; their records have skill ""):
- are in no row by skill or class: they were in no skill, and a row "" would show callers
  no agent could have answered;
- count in the rows by site, service and DNIS: offered, and abandoned if they hung up
  (SL2 counts them, as `vcc simulate` does by site); they have no wait, so SL and ASA are
  those of the callers who reached a queue.
By service or DNIS a row adds: to_agent (reached a queue or an agent), self_served,
self_served_pct (of offered), abandoned_ivr (hung up before any queue step or offer),
abandoned_queue (hung up after one), busy, callbacks (callers who accepted one),
routed_out, voicemail, disconnected. A plain contact has no service, and one given no
DNIS none: they make the group "" (shown "(none)"), so the rows add up to every contact.
Agents serve skills, not services: those rows have no agent time.

By tier (SPEC §7; the tier the core routed the caller with, kept on the record since
revision 0005): the callers who reached a queue, as `vcc simulate`'s by_tier; SL and SL2
against the objective the contact was routed with (its tier's) rather than the skill's
threshold. Records without a tier (a center without tiers, records written before) are in
no row. No agent time either. `--json` prints the totals as `by_<grouping>` (by_skill ...
by_tier) with the field names of `vcc simulate --json`.

The modules: `request` (options, times, `ReportQuery`), `queries` (the SQL,
`compute_report`), `figures` (`Sums`, the ratios, `Report`), `render` (text, CSV),
`charts` (PNG), `command` (`vcc report`).
"""

from cluster.reports.command import add_report_parser, run_report
from cluster.reports.figures import OUTCOMES, Report, Sums
from cluster.reports.queries import compute_report, time_range
from cluster.reports.render import render, write_csv
from cluster.reports.request import (BY, BY_CALLER, BY_ENTRY, ReportError, ReportQuery,
                                     format_time, parse_interval, parse_time)

__all__ = ["BY", "BY_CALLER", "BY_ENTRY", "OUTCOMES", "Report", "ReportError", "ReportQuery",
           "Sums", "add_report_parser", "compute_report", "format_time", "parse_interval",
           "parse_time", "render", "run_report", "time_range", "write_csv"]
