"""owcm-backup: plan, run and inspect OpsWorks CM backups from an operator's machine.

The same code path as the Lambda (event validation, planner, orchestrator: the runtime package
`backup_orchestrator`), against real AWS or any endpoint (--endpoint-url, for example the local
emulator). Not part of the Lambda asset; `rich` is its dependency alone. This module imports
nothing, so importing one command's module loads only what that command needs.

    main.py      the entry point: one-line errors, Ctrl-C, a closed pipe
    errors.py    the exit codes, and the error a person can fix
    parser.py    the command line, each flag checked by the rule the function applies
    session.py   the carried API model, the AWS session, the paced and retrying adapter
    commands.py  plan, run and delete-orphans
    status.py    status
    adopt.py     adopt, and the backups awaiting it for status
    drill.py     drill, and each server's last drill for status
    follow.py    run --wait: following backups and applying their deferred deletions
    progress.py  what --wait shows meanwhile: a live table on a terminal, plain lines otherwise
    output.py    tables and the report as a person reads it
"""
