"""The job worker: thin tasks over services (worker/tasks.py) and the loop that runs them (worker/main.py).
Started by `python -m services worker` (which execs `python -m worker`)."""
