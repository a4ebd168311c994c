"""The orchestrator's runtime: the code the stack's functions run (this folder ships whole).

Layers, each a subpackage, and the one way they depend on each other (import-linter holds it,
see the `[tool.importlinter]` contracts in pyproject.toml):

    handlers/   the functions' entry points: validate, build the services, call run/
    run/        one run of a slot and its follow-ups, the drills it starts
    aws/        every call to AWS; contract/  what crosses the edges
    domain/     pure decisions: no boto3, no botocore, no clock, no I/O

`handlers -> run -> aws | contract -> domain`. The operator CLI (`owcm_backup`, under cli/) and
the stack (`infra/`) are outside: the CLI may use any layer, the stack only contract/.
"""
