"""The TrainingJob reconciler, split by lifecycle.

`spine` gathers the job and its contract once, asks the pure `decide_run` (policy/job_run.py)
for the step and hands it to one lifecycle: admission (an injected strategy: the operator's own
queue in `own_queue`, or Kueue in `kueue_queue`, whose contract check is `kueue_check`), running
(`run`), ending (`end`) and a finished job's output (`output`). Every lifecycle reports through
`report`: one typed status write per reconcile, one Event per condition that changed.
`admission` holds the one admission decision and its record, shared with the webhook.
"""
