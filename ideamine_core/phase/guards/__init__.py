"""Guards: one module per guard type, each a function (GuardSpec, GuardInput) -> GuardResult."""
