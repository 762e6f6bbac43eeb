"""Department feeds (部门数据归集), quarantine, identity resolution and the credit file (信用档案)."""
