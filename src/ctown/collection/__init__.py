"""Village collection points (村级信用信息采集点): offline terminals, signed encrypted batches."""
