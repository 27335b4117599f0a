"""Backup and restore of a whole fleet instance: the database (SQLite online backup or
``pg_dump``), the files under DATA_DIR (APK store, agreement signatures and scans, uploads,
keys, TLS) and a manifest of SHA-256s, in one tar. See ``docs/backup.md``."""
