"""A site actor hands over a contact that moves to another site with everything it carries
(issue 16 item 3: its PBX link was dropped, so after a takeover on the Ray runtime the link
of an interflowed contact was not rebuilt)."""

from actors.site_actor import SiteActor
from sites import events as ev
from sites.model import Priority, SiteConfig, SkillConfig


def test_a_queued_contact_leaves_with_its_link_and_data():
    actor = SiteActor(SiteConfig("east", (SkillConfig("billing"),), ()))
    actor.handle_batch([ev.ContactArrived(1.0, "c1", "billing", "high", 15.0, "voice",
                                          {"account": "A-1"}, "pbx-7")])
    survey = actor.survey(2.0, keys=[("billing", "voice")], contact_ids=["c1"])
    for arrival in (survey.contacts["c1"], next(iter(survey.best.values()))):
        assert arrival.contact_id == "c1" and arrival.origin == "pbx-7"
        assert arrival.data == {"account": "A-1"}
        assert arrival.priority is Priority.HIGH and arrival.service_objective_s == 15.0
