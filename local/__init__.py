"""The offline cloud: an OpsWorks CM emulator and the tools that run the product on a laptop."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "lambda" / "models"
