"""The reconcilers, one per kind, each reconcile gather -> decide (policy/, desired/) -> act ->
record (the ledger) -> report (typed status, an Event on a transition); the watches that wake
them and the queue they run from."""
