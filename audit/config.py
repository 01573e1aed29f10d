"""Configuration from the environment. Secrets never come from the repository: they come from
environment variables, or from files the app creates in its instance folder (which git ignores)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _secret_file(instance: Path, name: str) -> str:
    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def from_environment(instance_path: str) -> dict:
    instance = Path(instance_path)
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'audit.sqlite'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _secret_file(instance, "secret_key"),
        "AUDIT_PII_KEY": os.environ.get("AUDIT_PII_KEY") or _secret_file(instance, "pii.key"),
        # Bounds checked on zip and xlsx files before anything is parsed.
        "IMPORT_MAX_UNCOMPRESSED_BYTES": int(os.environ.get("IMPORT_MAX_UNCOMPRESSED_BYTES", 4 << 30)),
        "IMPORT_MAX_ENTRIES": int(os.environ.get("IMPORT_MAX_ENTRIES", 2000)),
        "IMPORT_MAX_RATIO": int(os.environ.get("IMPORT_MAX_RATIO", 1000)),
    }
