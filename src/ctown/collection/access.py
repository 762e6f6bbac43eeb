"""How the collection points' rows are reached (R-1.1, R-7.1): each table described once for the
access layer.

Who reaches them for which purpose is the one table, :mod:`ctown.access.policy` ("terminal":
view, manage, enrol; "upload": view, collect), by the village a terminal or an upload belongs
to. An upload of an unknown terminal has no village: only a county-wide reach sees it.
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.collection.models import Terminal, UploadLog

#: Collection terminals (采集终端) by their village.
TERMINALS = Resource("terminal", Terminal, Terminal.id, label="terminal",
                     region=Terminal.village_code)
#: Upload attempts (采集上传日志) by the terminal's village.
UPLOADS = Resource("upload", UploadLog, UploadLog.id, label="upload",
                   region=UploadLog.village_code)
