"""Village collection points (村级信用信息采集点): offline terminals upload signed, encrypted batches."""
