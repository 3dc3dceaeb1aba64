"""storage/ owns what sightd keeps between requests: SQL metadata (SQLite embedded or PostgreSQL,
through SQLAlchemy Core), file blobs on local disk, and the resumable-upload state machine. It
knows nothing of HTTP."""
