"""Department feeds (部门数据归集), quarantine, identity resolution, credit file (信用档案), collection points, 三率."""
