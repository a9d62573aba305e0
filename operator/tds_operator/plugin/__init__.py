"""`kubectl tds`: the parties' and the hub staff's command line, acting as the caller."""
