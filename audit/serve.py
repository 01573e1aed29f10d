"""``audit serve``: the web application in one process (werkzeug's threaded server), for the demo
and a single machine; production runs ``gunicorn 'audit:create_app()'`` (README)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import WSGIRequestHandler, run_simple


def register(cli: click.Group) -> None:
    @cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True)
    @with_appcontext
    def serve_command(host: str, port: int) -> None:
        """运行网页服务。"""
        from audit.database import ensure_schema

        ensure_schema()
        click.echo(f"公益性岗位与就业帮扶车间审计系统已启动：请在浏览器中打开 http://{host}:{port}/ "
                   "（Ctrl+C 退出）")
        # Flask ignores app.run() inside its own CLI, so the server is started directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False,
                   request_handler=_PathOnlyLog)


class _PathOnlyLog(WSGIRequestHandler):
    """The access log without query strings: a search for a name (``/persons?q=…``) or a filter
    leaves no personal data in the server's log."""

    def log_request(self, code="-", size="-") -> None:
        self.log("info", '"%s %s %s" %s %s', self.command, self.path.split("?", 1)[0], self.request_version,
                 code, size)
