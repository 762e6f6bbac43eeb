"""Indicator catalogue (农村信用信息采集规范): categories, indicators, versions."""
