"""Synthetic county generator (模拟县): households, businesses, department feeds, loan history."""
