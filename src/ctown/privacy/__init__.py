"""Field encryption with rotating keys (动态加密), blind indexes, masking (脱敏), consent and query log."""
