"""The CDK app's stack: `stack.py` composes the constructs (`constructs/`), from the validated
configuration (`config/`), with the runtime's code asset and layer (`assets/`). It reads the
runtime only through `backup_orchestrator.contract`."""
