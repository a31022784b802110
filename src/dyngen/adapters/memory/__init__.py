"""In-memory repositories and ledger: every record port of `dyngen.ports` held in one `MemoryDatabase`.

The ephemeral embedded mode (`DYNGEN_DATABASE_URL=memory://`) and the unit tests use them. They pass the
same contract tests as the SQL adapters (tests/contract); everything is lost when the process exits.
"""
