"""What goes into the orchestrator function's code asset: an allow-list of the package's modules
and the OpsWorks CM API model, so nothing else in lambda/ ever ships (editor and tool files,
caches, notes). No CDK import: the benchmarks read it."""

from pathlib import Path

LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"
PACKAGE = "backup_orchestrator"
# What botocore loads from AWS_DATA_PATH for a service: models/<service>/<api version>/<file>.
MODEL_FILES = ("service-2.json", "paginators-1.json", "endpoint-rule-set-1.json")


def asset_files(root: Path = LAMBDA_ROOT) -> list[Path]:
    """The files the function ships, sorted: the package's modules and the model. Its
    subpackages do not ship: the operator CLI (`cli/`) runs on people's machines."""
    modules = list((root / PACKAGE).glob("*.py"))
    model = [p for name in MODEL_FILES for p in (root / "models").glob(f"*/*/{name}")]
    return sorted(p for p in modules + model if p.is_file())
