"""How accounts' rows are reached (R-7.1): users, by the region they work in.

Who reaches them for which purpose is the one table, :mod:`ctown.access.policy` ("user": view,
manage). A user's sessions and tokens are reached through their user ("manage"); one's own
sessions and tokens are one's own (``/account``), whatever the role.
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.accounts.models import User

#: Users (用户) by the region they work in (county, township or village).
USERS = Resource("user", User, User.id, label="user", region=User.region_code)
