"""Numbered pages of a list, one implementation for every list of the web application: the page
asked for (``?page=``), the page count, the page's rows. Templates draw it with the one pager
macro (templates/_macros.html ``pager``).

The findings list pages by key instead (a next page starts after the last row's sort key: deep
pages of a large list cost no OFFSET scan); its page number only numbers the page.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import request
from sqlalchemy import Select, func, select

from models import db

PER_PAGE = 50


def page_arg(name: str = "page") -> int:
    """The page asked for in the query string: 1 when missing, not a number or below 1."""
    return max(request.args.get(name, 1, type=int) or 1, 1)


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    """How many pages ``total`` rows make (at least one: an empty list is one empty page)."""
    return max(1, -(-total // per_page))


@dataclass
class Page:
    """One page of a list: its number (kept within the pages there are), the total and the rows."""

    total: int
    page: int = 1
    per_page: int = PER_PAGE
    items: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page = min(max(1, self.page), self.pages)

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def paged(stmt: Select, page: int, *, count: Select | None = None, per_page: int = PER_PAGE,
          scalars: bool = False) -> Page:
    """One page of ``stmt``; ``count`` (a statement over the same rows without the costly columns)
    gives the total."""
    base = (count if count is not None else stmt).order_by(None)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    result = Page(total, page, per_page)
    rows = db.session.execute(stmt.limit(per_page).offset(result.offset))
    result.items = list(rows.scalars()) if scalars else list(rows)
    return result
