"""One run of a slot, start to end: discover, plan (domain/), make room and start backups, hand
them to the tracker, then the follow-ups (the busy servers' next try, compliance, history,
alerts, logs) and the restore drills the slot starts. It owns the order of things and the
rule that one server's trouble stays its own; every decision it applies is domain/'s and every
call it makes goes through aws/. `Services` (services.py) is what a run talks to. May import
aws/, contract/ and domain/; only handlers/ (and the operator CLI) import it.
"""
