"""Pure decisions: contract state, consent, admission, budgets, hub rules. No I/O."""
