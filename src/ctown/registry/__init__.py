"""Regions, subjects and their identifiers (主体登记).

Households (农户), persons, agricultural business entities (新型农业经营主体), village
collectives (村集体).
"""
