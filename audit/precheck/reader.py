"""The draft payroll as a file: the ``wages`` table without ``paid_on`` (shared/docs/precheck.md,
"Input"), read with the ledger's own tolerant reader (audit/ledger/sheet.py ``read_table``: the
header below title rows, total rows read past, headers however spelled) and the ledger's cell
parsers, so that a draft is read exactly as its paid rows will be imported later. Bad cells are
reported as the importer reports them (table, row as the file numbers it, column, value, reason),
every one of them; a draft with any is not judged."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from audit.ledger import values as v
from audit.ledger.bundle import Bundle, BundleError, Limits
from audit.ledger.csvfile import csv_source
from audit.ledger.importer import RowError
from audit.ledger.schema import BY_NAME, IGNORED, TableSpec, header_key, table_for
from audit.ledger.sheet import read_table
from audit.ledger.values import CellError
from audit.ledger.workbook import Workbook, open_workbook, sheet_source

_WAGES = BY_NAME["wages"]
# the draft's columns: those of wages but the payment date (it is not paid yet); the amount is a
# payment, never a reversal
SPEC = TableSpec("wages", _WAGES.zh, tuple(
    c if c.key != "amount" else type(c)(c.key, c.zh, v.money, True, c.aliases, c.sample)
    for c in _WAGES.columns if c.key != "paid_on"), key=("id_number", "post_code", "period", "amount"))
MAX_ERRORS = 200


@dataclass
class DraftRow:
    row: int  # as the file numbers it
    id_number: str
    post_code: str
    period: dt.date
    amount_fen: int
    account_number: str | None
    account_name: str | None
    batch: str | None


@dataclass
class Draft:
    name: str
    origin: str = ""  # the file, or the workbook and its sheet, as row errors name it
    rows: list[DraftRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class DraftError(ValueError):
    """The file cannot be read as a draft payroll; the message is for the user."""


def read_draft(path: str | Path, limits: Limits = Limits()) -> Draft:
    """The draft's rows, or its errors (each bad cell, by row), from a CSV, XLSX or single-sheet
    workbook. ``DraftError`` for a file that is no table at all."""
    p = Path(path)
    if not p.is_file():
        raise DraftError(f"找不到文件 {p}")
    suffix = p.suffix.lower()
    bundle = Bundle(name=p.name)
    try:
        if suffix == ".csv":
            source = csv_source(SPEC, p.name, lambda: open(p, "rb"))  # noqa: SIM115 - the reader opens and closes it
        elif suffix in (".xlsx", ".xlsm"):
            open_workbook(bundle, p, p.name, limits, whole_bundle=False, spec=SPEC)
            source = _the_sheet(bundle, p.name)
        else:
            raise DraftError(f"无法识别的工资发放表：{p.name}（应为 .csv 或 .xlsx）")
        return _read(p.name, source)
    except BundleError as exc:
        raise DraftError(str(exc)) from None
    finally:
        bundle.close()


def _the_sheet(bundle: Bundle, name: str):
    """The workbook's one sheet; of several, the one named as the wages table (工资发放, 工资发放表,
    wages …); else a ``DraftError`` naming them (a draft is one table: reading another sheet by
    mistake would judge the wrong rows)."""
    book = next(c.__self__ for c in bundle._closers if isinstance(getattr(c, "__self__", None), Workbook))
    if len(book.sheets) == 1:
        return bundle.sources["wages"]
    named = [(title, part) for title, part in book.sheets if table_for(title) is _WAGES]
    if len(named) == 1:
        title, part = named[0]
        return sheet_source(SPEC, f"{name}「{title}」", book, part)
    titles = "、".join(f"「{t}」" for t, _ in book.sheets)
    raise DraftError(f"{name} 有 {len(book.sheets)} 个工作表（{titles}）：发放前校验只读一张工资发放表，"
                     "请只保留这一个工作表，或把它命名为「工资发放」")


def _read(name: str, source) -> Draft:
    draft = Draft(name, source.origin)
    table = read_table(SPEC, source.rows())
    if table.header is None:
        raise DraftError(f"{name} 是空表：没有表头和数据")
    found: dict[str, int] = {}
    for i, cell in enumerate(table.header):
        if cell is None or str(cell).strip() == "":
            continue
        key = header_key(SPEC, cell)
        if key is None:
            text = v.strip_controls(str(cell)).strip()
            note = "（发放前校验按校验日发放）" if header_key(_WAGES, cell) == "paid_on" else ""
            draft.warnings.append(f"{name} 的列「{text}」不是工资发放表的列，已忽略{note}")
        elif key != IGNORED and key not in found:
            found[key] = i
    error = _errors(draft, source.origin)  # the file, or the workbook and its sheet
    for c in SPEC.columns:
        if c.required and c.key not in found:
            error(table.header_row, c.zh, "", f"缺少必填列「{c.zh}」（{c.key}）："
                                              f"请在表头行（第{table.header_row}行）加上这一列")
    if draft.errors:
        return draft
    for row_no, raw in table.rows:
        cells = {}
        bad = False
        for c in SPEC.columns:
            i = found.get(c.key)
            x = raw[i] if i is not None and i < len(raw) else None
            x = v.strip_controls(x)
            if x is None or (isinstance(x, str) and not x.strip()):
                if c.required:
                    bad = error(row_no, c.zh, "", "必填项为空")
                cells[c.key] = None
                continue
            try:
                cells[c.key] = c.parse(x)
            except CellError as exc:
                bad = error(row_no, c.zh, str(x), str(exc))
            except (ValueError, TypeError, ArithmeticError):
                bad = error(row_no, c.zh, str(x), "无法识别的值")
        if not bad and cells["amount"] == 0:
            bad = error(row_no, SPEC.col("amount").zh, str(raw[found["amount"]]), "发放金额应大于 0")
        if not bad:
            draft.rows.append(DraftRow(row_no, cells["id_number"], cells["post_code"], cells["period"],
                                       cells["amount"], cells["account_number"], cells["account_name"],
                                       cells["batch"]))
        if len(draft.errors) >= MAX_ERRORS:
            break
    draft.warnings.extend(table.notices(name))
    if not draft.rows and not draft.errors:
        raise DraftError(f"{name} 中没有数据行")
    return draft


def _errors(draft: Draft, name: str):
    def error(row: int, column: str, value: str, reason: str) -> bool:
        draft.errors.append(RowError("wages", row, column, value, reason, name))
        return True
    return error
