"""Synthetic county generator (模拟县): deterministic households, businesses, department feeds, loan history."""
