"""Alembic migrations of the hub's schema, applied by `vigie-hub migrate` and at every start-up.

A new revision: change the models, then on an empty database upgraded to the current head run
`alembic.command.revision(hub.db.migrate.alembic_config(connection), message=..., autogenerate=True,
rev_id="NNNN_short_name")` and review what it wrote. PostgreSQL-only DDL goes behind
`op.get_bind().dialect.name == "postgresql"`; objects the models leave out on purpose are listed
in `hub.db.migrate` (UNMODELLED_*) so autogenerate and the schema test ignore them.
"""
