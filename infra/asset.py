"""What goes into the orchestrator function's code asset (no CDK import: benchmarks read it)."""

from pathlib import Path

LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"
# Left out of the asset; the operator CLI runs on people's machines, not in Lambda.
ASSET_EXCLUDE = ["requirements.txt", "**/__pycache__", "*.pyc", "backup_orchestrator/cli.py"]
