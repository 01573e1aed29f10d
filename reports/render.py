"""HTML to PDF with WeasyPrint, safely and within bounds.

- **Only the app's own files.** The URL fetcher serves files under ``reports/static/`` and the web
  app's ``static/`` folder, and ``data:`` URLs. Everything else (``file://`` elsewhere,
  ``http(s)://``, ``ftp://`` …) is refused and recorded: a refused URL is a missing resource, it is
  never fetched. WeasyPrint's own fetcher (urllib) is never called.
- **User text is escaped.** The templates are rendered by ``environment()`` (Jinja, autoescape on
  for every template); no template marks user data ``|safe``.
- **Bounded.** Rendering happens in a forked child process (``multiprocessing`` "fork": the HTML is
  already built, the child touches no database), whose address space is limited
  (``RLIMIT_AS``: what the process held at the fork plus ``memory_mb``) and which is killed when it
  runs longer than ``timeout`` seconds. Defaults: 60 s, 1500 MB; app config (or environment)
  ``REPORT_TIMEOUT_SECONDS`` and ``REPORT_MEMORY_MB``.
"""
from __future__ import annotations

import base64
import ctypes.util
import datetime as dt
import functools
import mimetypes
import os
import resource
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from audit.money import yuan

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
WEB_STATIC = HERE.parent / "static"  # the web app's /static/
BASE_URL = STATIC.as_uri() + "/"

DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MEMORY_MB = 1500


class ReportError(Exception):
    """A report could not be made; the message is Chinese, for the user."""


# ---- the URL fetcher -------------------------------------------------------------------------------

class Refused(ValueError):
    pass


def _allowed_file(path: str) -> Path | None:
    """The real file a ``file:`` URL's path names, if it lies under one of the app's static folders."""
    candidates = [Path(path)]
    if path.startswith("/static/"):  # the web app's URL space: /static/css/app.css
        candidates.append(WEB_STATIC / path[len("/static/"):])
    for cand in candidates:
        try:
            real = cand.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        for root in (STATIC, WEB_STATIC):
            if real.is_file() and real.is_relative_to(root.resolve()):
                return real
    return None


def resolve(url: str) -> tuple[bytes, str]:
    """(body, media type) of an allowed URL; ``Refused`` for everything else."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        head, sep, data = url[5:].partition(",")
        if not sep:
            raise Refused("malformed data: URL")
        params = head.split(";")
        mime = params[0] or "text/plain"
        if "base64" in (p.strip().lower() for p in params[1:]):
            try:
                body = base64.b64decode(urllib.parse.unquote_to_bytes(data), validate=False)
            except ValueError as exc:
                raise Refused("malformed base64 in data: URL") from exc
        else:
            body = urllib.parse.unquote_to_bytes(data)
        return body, mime
    if scheme == "file":
        parts = urllib.parse.urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise Refused(url)
        real = _allowed_file(urllib.request.url2pathname(parts.path))
        if real is None:
            raise Refused(url)
        return real.read_bytes(), mimetypes.guess_type(real.name)[0] or "application/octet-stream"
    raise Refused(url)


def safe_fetcher(refused: list[str]):
    """A WeasyPrint URL fetcher that serves ``resolve``'s URLs and records every refusal."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class SafeURLFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            try:
                body, mime = resolve(url)
            except Refused:
                refused.append(url[:300])
                raise
            return URLFetcherResponse(url, body, {"Content-Type": mime})

        def open(self, url, data=None, timeout=None):  # never urllib
            return self.fetch(getattr(url, "full_url", url))

    return SafeURLFetcher(allowed_protocols=("file", "data"))


# ---- templates -------------------------------------------------------------------------------------

def zh_date(day: dt.date | dt.datetime | None) -> str:
    if day is None:
        return "—"
    return f"{day.year}年{day.month}月{day.day}日"


def zh_month(month: str | dt.date | None) -> str:
    """``2025-03`` -> ``2025年3月``."""
    if month is None:
        return "—"
    if isinstance(month, str):
        y, m = month[:7].split("-")
        return f"{int(y)}年{int(m)}月"
    return f"{month.year}年{month.month}月"


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The reports' Jinja environment: autoescape on for every template, whatever its name."""
    from audit.charts import columns, hbars

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(yuan=yuan, zh_date=zh_date, zh_month=zh_month, columns=columns, hbars=hbars)
    env.filters.update(zh_date=zh_date, zh_month=zh_month, yuan=yuan)
    return env


def render_template(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


# ---- rendering in a bounded child process --------------------------------------------------------

@dataclass
class Rendered:
    pdf: bytes
    pages: int
    refused: list[str] = field(default_factory=list)  # URLs the fetcher refused
    peak_rss_kb: int = 0  # the rendering child's peak resident memory (ru_maxrss)
    start_rss_kb: int = 0  # its resident memory when it started (inherited from the parent)
    seconds: float = 0.0


def _config(key: str, default: int) -> float:
    try:
        from flask import current_app, has_app_context

        if has_app_context() and current_app.config.get(key) is not None:
            return float(current_app.config[key])
    except ImportError:  # pragma: no cover
        pass
    value = os.environ.get(key)
    return float(value) if value else float(default)


def _statm_kb(field_index: int) -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[field_index]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


def _out_of_memory(exc: BaseException, limit: int) -> bool:
    """Whether a failure in the child comes from its address-space limit (C libraries under the limit
    fail in many ways: MemoryError, SystemError from cffi, "cannot allocate" messages)."""
    if isinstance(exc, MemoryError):
        return True
    if limit and _statm_kb(0) * 1024 >= limit - (32 << 20):
        return True
    text = str(exc).lower()
    return bool(limit) and any(w in text for w in ("memory", "alloc", "error return without exception"))


def _child(conn, html: str, base_url: str, memory_mb: float, timeout: float) -> None:
    start_rss = _statm_kb(1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(timeout) + 10)  # a backstop should the parent die: the child never outlives it long
    limit = 0
    try:
        if memory_mb:
            limit = _statm_kb(0) * 1024 + int(memory_mb * 1024 * 1024)
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        from weasyprint import HTML

        refused: list[str] = []
        document = HTML(string=html, base_url=base_url, url_fetcher=safe_fetcher(refused)).render()
        pdf = document.write_pdf()
        conn.send(("ok", pdf, len(document.pages), refused,
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, start_rss))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            if _out_of_memory(exc, limit):
                conn.send(("memory", "", 0, [], 0, 0))
            else:
                conn.send(("error", f"{type(exc).__name__}: {exc}"[:500], 0, [], 0, 0))
        except BaseException:  # noqa: BLE001, S110 - nothing more can be done; the parent sees the exit
            pass
    finally:
        conn.close()


def render(html: str, *, base_url: str | None = None, timeout: float | None = None,
           memory_mb: float | None = None) -> Rendered:
    """Render ``html`` to PDF in a bounded child process. ``ReportError`` (Chinese) on a timeout,
    on running out of memory, or on any failure of the renderer."""
    import multiprocessing

    import weasyprint  # noqa: F401  (imported once in this process, so the child need not)

    timeout = float(timeout if timeout is not None
                    else _config("REPORT_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    memory_mb = float(memory_mb if memory_mb is not None else _config("REPORT_MEMORY_MB", DEFAULT_MEMORY_MB))
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    started = time.perf_counter()
    child = ctx.Process(target=_child, args=(sender, html, base_url or BASE_URL, memory_mb, timeout),
                        name="report-render")
    child.start()
    sender.close()
    message = None
    try:
        if receiver.poll(timeout):
            try:
                message = receiver.recv()
            except EOFError:  # the child died without a word (killed: out of memory, a crash)
                message = None
        else:
            raise ReportError(f"报告生成超时（超过 {timeout:g} 秒），已终止。"
                              "请缩小报告范围（地区或期间）后重试，"
                              f"或请管理员调整 REPORT_TIMEOUT_SECONDS。")
    finally:
        receiver.close()
        child.join(1 if message is not None else 0)
        if child.is_alive():
            child.kill()
            child.join()
    seconds = time.perf_counter() - started
    if message is None:
        raise ReportError(f"报告生成失败：排版进程异常退出（退出码 {child.exitcode}），可能超出内存限制 "
                          f"{memory_mb:g} MB（REPORT_MEMORY_MB）。")
    status, payload, pages, refused, peak, start_rss = message
    if status == "memory":
        raise ReportError(f"报告生成所需内存超出限制 {memory_mb:g} MB（REPORT_MEMORY_MB），已终止。"
                          "请缩小报告范围后重试。")
    if status != "ok":
        raise ReportError(f"报告生成失败：{payload}")
    return Rendered(payload, pages, refused, peak, start_rss, seconds)


def render_pdf(html: str, *, base_url: str | None = None, timeout: float | None = None,
               memory_mb: float | None = None) -> bytes:
    """The PDF of ``html`` (see ``render``)."""
    return render(html, base_url=base_url, timeout=timeout, memory_mb=memory_mb).pdf


# ---- start-up check ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def font_problems() -> tuple[str, ...]:
    """What is missing for the reports: a CJK font, HarfBuzz's subsetter. Checked once per process."""
    problems = []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                             timeout=15, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    if not out.strip():
        problems.append("未找到中文字体（fc-list :lang=zh 无结果或 fc-list 不可用）："
                        "PDF 报告中的中文将无法显示。"
                        "请安装 fonts-noto-cjk（bin/setup 会安装）。")
    elif "Noto Serif CJK SC" not in out:
        problems.append("未找到 Noto Serif CJK SC 字体：PDF 报告将改用其他中文字体排版。"
                        "请安装 fonts-noto-cjk。")
    if not ctypes.util.find_library("harfbuzz-subset"):
        problems.append("未找到 HarfBuzz 字体子集库（libharfbuzz-subset）：PDF 报告无法只嵌入用到的字形，"
                        "文件会很大或无法生成。请安装 libharfbuzz-subset0（bin/setup 会安装）。")
    return tuple(problems)


def warn_missing_fonts(app) -> None:
    """At start-up: a warning in the app's log for each thing the reports lack."""
    for problem in font_problems():
        app.logger.warning(problem)
