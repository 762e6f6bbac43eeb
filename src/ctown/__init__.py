"""ctown — Credit Township Platform (信用乡平台)."""

__version__ = "0.1.0"
