"""Every call to AWS, one module per service: the OpsWorks CM adapter (the carried API model,
pacing under the service's rate limit, retries that never retry the backup quota, changes
confirmed when their answer is lost), Step Functions, EventBridge Scheduler, the DynamoDB history
and idempotency, SNS alerts; and `errors.ERRORS`, the one tuple of what a call can end in. It
turns answers into domain/ records and makes no decision of the product's. May import domain/;
never run/, handlers/ or contract/.
"""
