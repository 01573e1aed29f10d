"""Ledger bundles: the import contract (shared/docs/ledger-format.md), the importer, templates."""
