"""The personal data key: which key the database was written with, and rotating it."""
