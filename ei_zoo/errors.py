"""What a user's mistake raises, for the programs that report it in one line.

ValueError includes `TrainingDivergedError`, ConnectionError a multi-worker
run's `WorkerLostError`, FileExistsError a result that would replace one without
`--overwrite`: each names what went wrong and what to do, so the
`ei-zoo` commands and the recipes print it in one line and exit 2.
"""

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ImportError, ConnectionError)
