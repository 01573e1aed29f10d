"""gunicorn's settings for the web application (README "Serving"):

    .venv/bin/gunicorn -c gunicorn.conf.py 'audit:create_app()'

Options given on the command line win over these (``-b``, ``-w``). Decisions (B9):

- **sync workers**, one request at a time each: a request still running after ``timeout`` seconds
  ends with its worker (the arbiter kills it and starts another), so no request holds a worker for
  ever. 120 s is above the longest legitimate request: a PDF (REPORT_TIMEOUT_SECONDS, 60 s) or the
  audit after an operator's submission; big uploads are checked and loaded in background threads,
  which the timeout does not touch (the worker's main loop keeps reporting alive while they run).
- **slow clients**: a sync worker reads the body itself, so a client sending a few bytes a second
  holds it until ``timeout``. Anonymous bodies are small (ANONYMOUS_MAX_BODY_BYTES, checked before
  the body is read); in production put nginx in front (it buffers whole requests before passing them
  on: ``proxy_request_buffering on``, ``client_max_body_size`` = MAX_UPLOAD_BYTES,
  ``client_body_timeout 60s``) and set PROXY_FIX_X_FOR=1.
- **request line and headers** bounded (gunicorn answers 400 beyond them): 4,094 bytes of request
  line (the longest findings filter is far shorter), 50 header fields of at most 8,190 bytes.
- **workers**: 2 × cores + 1 (at least 2, at most 12), or WEB_CONCURRENCY.
"""
from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "sync"
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
workers = int(os.environ.get("WEB_CONCURRENCY") or min(max(2 * _cores + 1, 2), 12))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 30  # on restart, requests in flight get this long to finish
keepalive = 2
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
