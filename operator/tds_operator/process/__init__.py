"""The operator as a process: its command line and start by role, controller, webhook server or
both (`main.py`), the election of one leader among its replicas (`election.py`) and the takeover
when one wins (`takeover.py`), its webhook server and certificates (`webhook_server.py`,
`local_webhooks.py`, `certs.py`), the key that seals consent stamps and ledger entries
(`signing_key.py`), and what it needs in the cluster before it reconciles (`install.py`)."""
