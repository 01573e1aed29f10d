"""Scheduled audits in one dedicated process: ``audit scheduler``.

``jobs`` declares the jobs (a stable id, a trigger, a function) and the wrapper that records each
run in ``job_runs`` — one row per job and period, so nothing runs twice for the same day or month;
``lock`` makes sure that only one scheduler runs at a time (a PostgreSQL advisory lock, or a file
lock next to the SQLite database); ``cli`` is the command."""
