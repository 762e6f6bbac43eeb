"""How scoring's rows are reached (R-7.1, R-7.2): each described once for the access layer.

Who reaches them for which purpose is the one table, :mod:`ctown.access.policy` ("grade",
"model"). Which three parties must sign a model version is the review's own rule
(:data:`ctown.scoring.review.SIGNOFF_ROLES`), not a matter of reach.
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.registry.models import Subject
from ctown.scoring.models import ModelVersion

#: A subject as reached for its grade (信用等级): where it lives, and as the household's own.
SUBJECT_GRADES = Resource("grade", Subject, Subject.id, label="grade of subject",
                          region=Subject.region_code, subject=Subject.id)
#: Model versions (模型版本): the county's, reached as a whole by those who review them.
MODELS = Resource("model", ModelVersion, ModelVersion.id, label="model version")
