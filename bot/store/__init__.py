"""Persistence: SQLAlchemy 2.0 models, the session factory and Alembic migrations."""
