"""The access layer (访问控制): one table of who reaches what for which purpose
(:mod:`ctown.access.policy`), one way to apply it to any query (:mod:`ctown.access.scope`), the
query log of every look (:mod:`ctown.access.looks`) and the small rules everyone asks
(:mod:`ctown.access.rules`). It sits below every capability: it imports only models.
"""
