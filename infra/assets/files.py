"""What goes into the functions' code asset, by one explicit rule: every Python module of the
runtime package, at any depth, and the OpsWorks CM API model files botocore loads; nothing else
under lambda/ ever ships (editor and tool files, caches, notes, tests). The operator CLI lives
outside lambda/ and never ships. No CDK import: the benchmarks and tests read it."""

from pathlib import Path

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambda"
PACKAGE = "backup_orchestrator"
# What botocore loads from AWS_DATA_PATH for a service: models/<service>/<api version>/<file>.
MODEL_FILES = ("service-2.json", "paginators-1.json", "endpoint-rule-set-1.json")


def asset_files(root: Path = LAMBDA_ROOT) -> list[Path]:
    """The files the functions ship, sorted: the package's modules (subpackages included) and
    the model."""
    modules = [
        p for p in (root / PACKAGE).rglob("*.py") if "__pycache__" not in p.relative_to(root).parts
    ]
    model = [p for name in MODEL_FILES for p in (root / "models").glob(f"*/*/{name}")]
    return sorted(p for p in modules + model if p.is_file())
