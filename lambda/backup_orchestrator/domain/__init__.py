"""The product's decisions, as pure functions of data: the records (servers, backups, the
quota), the marker that proves a backup is the product's own, the planner and the sharing of the
account's limit, compliance against RPOs, restore drill decisions and the drill server's
identity, the history budget of the state machines, and the retry timing. No boto3, no
botocore, no clock, no I/O: what they need is passed in. Imports nothing of the other layers.
"""
