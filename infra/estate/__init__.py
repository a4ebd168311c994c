"""The estate's stacks beyond today's single one: the member stack (`member`) and the monitoring
account's central stack in each region (`central`, its dashboard and alarms `central_dashboard`)."""
