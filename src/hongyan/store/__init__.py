"""Persistence: the only package that imports SQLAlchemy. Tables, migrations and the queries that matter."""
