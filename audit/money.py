"""Money is integer fen everywhere; this is the one place that writes it as yuan."""
from __future__ import annotations


def yuan(fen: int | None, *, grouping: bool = True, none: str | None = "—") -> str | None:
    """``123456`` -> ``1,234.56`` (``1234.56`` without grouping); ``None`` -> ``none``.
    Accepts PostgreSQL's numeric sums (Decimal) of whole fen."""
    if fen is None:
        return none
    fen = int(fen)
    sign, fen = ("-" if fen < 0 else ""), abs(fen)
    whole = f"{fen // 100:,}" if grouping else str(fen // 100)
    return f"{sign}{whole}.{fen % 100:02d}"
