"""Where data rests: tables (`models`), engine and sessions (`db`), migrations, and per-person data
keys (`vault`).

Owns: the schema and its Alembic migrations; every column is classified in
tests/store/test_data_inventory.py.
Never imports: routes, channels or the policy: the rest of the service builds on it, not the
other way round.
"""
