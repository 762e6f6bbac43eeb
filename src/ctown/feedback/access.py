"""How feedback rows are reached (R-7.1): described once for the access layer.

An item is reached by the officers of the region it is routed to now (``region_code``: the
village, then its township, then the county as it escalates), by the household it is about, and
by that household's proxy. The on-time figure counts items where they come from
(``origin_region_code``), so an escalated item still counts in its village's figure.
Who reaches what for which purpose is the one table, :mod:`ctown.access.policy` ("feedback",
"feedback_figures").
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.feedback.models import Feedback

FEEDBACK = Resource("feedback", Feedback, Feedback.id, label="feedback",
                    region=Feedback.region_code, subject=Feedback.subject_id)
FIGURES = Resource("feedback_figures", Feedback, Feedback.id, label="feedback figures",
                   region=Feedback.origin_region_code)
