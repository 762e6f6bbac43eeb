"""Backups (备份与恢复): one archive of the database and its keys, restored into an empty database."""
