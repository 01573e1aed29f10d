#!/usr/bin/env python
"""Check: a web upload of a 3,000-person bundle on the default SQLite set-up, and its kill -9 recovery.

    .venv/bin/python tests/benchmarks/check_upload_crash.py [--persons 3000] [--months 12] [--seed 7]
        [--keep]

Two instances, each in a temporary folder and each set up and served exactly as a new user gets it:
``bin/run`` (bin/setup, the demo county, an audit run, the demo accounts, then ``audit serve``, the
Werkzeug server, which runs upload jobs in threads of its own process) with ``AUDIT_INSTANCE_PATH`` and
``PORT`` set, the database the default ``instance/audit.sqlite``, the keys the instance's own files.

1. The whole upload: the auditor signs in through the login form, uploads a generated bundle (the
   project's generator, ``--persons`` people, a ``.zip`` of several MB) through the upload form, follows
   the check, presses 确认导入, follows the load; then, through SQL on the database file: every person of
   the bundle is there (by the keyed hash of the ID number), each table grew by what the load says it
   added, and added + changed + unchanged is the bundle's row count.
2. Kill -9: on a fresh instance, the check is killed half way (kill -9 of the server process, which the
   job names as its pid), the server started again (``bin/run`` again), the page must say the check was
   cut off and offer 重新检查 (``/uploads/<id>/retry``); the check again; then 确认导入, and the load
   killed half way. Nothing of it may be in the database (every ledger table, the import batches and the
   import entries of the audit log as before; ``PRAGMA integrity_check``), the restarted server must show
   the load failed with the reason and offer 重新导入, which must load everything: the same counts as the
   first instance, ``audit verify-log`` clean.

Prints the figures and a report; the exit code is 1 if any check failed. Server logs are kept with
``--keep`` (the temporary folder is printed).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from upload_instance import (  # the instance puts the repository on sys.path
    LEDGER_TABLES,
    ROOT,
    SHOWN,
    Browser,
    Bundle,
    Checks,
    Server,
    Stop,
    commit_job,
    counts,
    follow,
    integrity,
    job_row,
    load_counts,
    make_bundle,
    missing_persons,
    text_of,
)


def upload_and_check(b: Browser, bundle: Bundle, check: Checks, label: str) -> tuple[int, float]:
    started = time.perf_counter()
    job = b.upload(f"{bundle.folder.name}.zip", bundle.zip_bytes)
    up = time.perf_counter() - started
    state, seen = follow(b, job)
    took = time.perf_counter() - started
    page = b.get(f"/uploads/{job}")
    if not check(state["status"] == "done" and "检查通过" in page, f"{label}：检查通过",
                 f"上传 {up:.1f} s，检查共 {took:.1f} s，进度 {len(seen)} 次更新"):
        print(text_of(page)[:1500])
        raise Stop
    return job, took


def whole_upload(args, tmp: Path, bundle: Bundle, check: Checks, out: dict) -> None:
    print("\n== 1. 完整上传（bin/run 的默认 SQLite 设置） ==", flush=True)
    server = Server(tmp / "instance-a", tmp)
    try:
        out["a_start"] = server.start()
        db = server.instance / "audit.sqlite"
        print(f"  bin/run 启动用时 {out['a_start']:.1f} s（安装检查、演示县、审计、演示账户、audit serve）")
        before = counts(db)
        b = server.browser()
        t0 = time.perf_counter()
        job, out["a_check"] = upload_and_check(b, bundle, check, "上传")
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        load = commit_job(b, job)
        row = job_row(db, load)
        check(row.get("pid") == server.pid, "导入任务记录的进程号是服务器进程",
              f"pid {row.get('pid')} / {server.pid}")
        state, seen = follow(b, load)
        out["a_load"] = seen[-1][0] if seen else 0.0
        out["a_total"] = time.perf_counter() - t0
        page = b.get(f"/uploads/{job}")
        if not check(state["status"] == "done" and "导入完成（批次 #" in page, "导入完成",
                     f"导入 {out['a_load']:.1f} s，进度 {len(seen)} 次更新，"
                     f"上传到导入完成共 {out['a_total']:.1f} s"):
            print(text_of(page)[:1500])
            raise Stop
        after = counts(db)
        shown = load_counts(page)
        out["a_before"], out["a_after"], out["a_shown"] = before, after, shown
        check(all(shown.get(t, (0,))[0] == n for t, n in bundle.rows.items()),
              "页面上每张表的行数等于台账包的行数")
        grew = {t: after[t] - before[t] for t in LEDGER_TABLES}
        check(all(grew[t] == shown.get(t, (0, 0))[1] for t in LEDGER_TABLES),
              "每张表新增的行数等于导入结果的「新增」",
              "，".join(f"{t} +{grew[t]:,}" for t in SHOWN))
        check(all(sum(shown[t][1:]) == shown[t][0] for t in shown), "新增 + 更新 + 未变 = 行数（每张表）")
        miss = missing_persons(db, server.instance, bundle.folder)
        check(miss == 0, "台账包中的每个人都在数据库中（按证件号的密钥哈希）", f"缺 {miss} 人")
        check(after["import_batches"] == before["import_batches"] + 1, "多了一个导入批次")
    finally:
        server.stop()


def killed_upload(args, tmp: Path, bundle: Bundle, check: Checks, out: dict) -> None:
    print("\n== 2. 导入过程中 kill -9 服务器进程，重启后重试 ==", flush=True)
    server = Server(tmp / "instance-b", tmp)
    db = server.instance / "audit.sqlite"
    try:
        server.start()
        before = counts(db)
        b = server.browser()

        # -- the check, killed half way; 重新检查
        first = b.upload(f"{bundle.folder.name}.zip", bundle.zip_bytes)
        state, seen = follow(b, first, until=lambda s: s["progress"] >= 40 and "已读" in s["message"])
        row = job_row(db, first)
        check(state["status"] == "running" and row.get("status") == "running"
              and row.get("pid") == server.pid,
              "检查进行中，任务记录着服务器的进程号",
              f"{state['progress']}%「{state['message']}」，pid {row.get('pid')}")
        server.kill9()
        out["b_check_killed_at"] = state["progress"]
        check(counts(db) == before, "检查被 kill -9 后数据库未变")
        server.start()
        b = server.browser()
        row = job_row(db, first)
        page = text_of(b.get(f"/uploads/{first}"))
        check(row.get("status") == "failed" and "任务已中断" in (row.get("message") or ""),
              "重启后检查任务标为失败并写明原因", row.get("message") or "")
        check("检查未能完成：任务已中断" in page and "重新检查" in page,
              "页面显示「检查未能完成」和「重新检查」")
        status, where, _ = b.post_form(f"/uploads/{first}", f"/uploads/{first}/retry")
        m = re.fullmatch(r"/uploads/(\d+)", where)
        if not check(status == 200 and m is not None and int(m.group(1)) != first,
                     "重新检查（/uploads/<id>/retry）", where):
            raise Stop
        job = int(m.group(1))
        state, _ = follow(b, job)
        if not check(state["status"] == "done" and "检查通过" in b.get(f"/uploads/{job}"), "重新检查通过"):
            raise Stop

        # -- the load, killed half way
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        load = commit_job(b, job)
        state, seen = follow(b, load, until=lambda s: s["progress"] >= 50 and "已读" in s["message"])
        row = job_row(db, load)
        out["b_progress"] = seen
        check(state["status"] == "running" and row.get("pid") == server.pid,
              "导入进行中（进度可见），任务记录着服务器的进程号",
              f"{state['progress']}%「{state['message']}」，pid {row.get('pid')} / {server.pid}")
        server.kill9()
        out["b_load_killed_at"] = (state["progress"], state["message"])
        killed = counts(db)
        check(killed == before, "kill -9 之后（重启之前）数据库中没有这次导入的任何数据",
              "，".join(f"{t} {killed[t]:,}" for t in SHOWN))
        check(integrity(db) == "ok", "数据库完整性检查（PRAGMA integrity_check）通过")

        # -- restart; the load is failed with its reason; 重新导入
        out["b_restart"] = server.start()
        b = server.browser()
        row = job_row(db, load)
        check(row.get("status") == "failed" and "任务已中断" in (row.get("message") or ""),
              "重启后导入任务标为失败并写明原因", row.get("message") or "")
        page = text_of(b.get(f"/uploads/{job}"))
        check("导入未能完成" in page and "任务已中断" in page and "重新导入" in page,
              "页面显示「导入未能完成」、原因和「重新导入」")
        check(counts(db) == before, "重启后数据库仍与上传前相同")
        t0 = time.perf_counter()
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        again = commit_job(b, job)
        state, seen = follow(b, again)
        out["b_retry"] = time.perf_counter() - t0
        page = b.get(f"/uploads/{job}")
        if not check(state["status"] == "done" and "导入完成（批次 #" in page and again != load,
                     "重新导入完成", f"{out['b_retry']:.1f} s"):
            print(text_of(page)[:1500])
            raise Stop
        after = counts(db)
        out["b_after"] = after
        a_after = out.get("a_after")
        if a_after is not None:
            check(after == a_after,
                  "重试后的数据与第一个实例一次导入的完全相同（每张表、导入批次、导入日志条数）",
                  "，".join(f"{t} {after[t]:,}" for t in SHOWN))
        miss = missing_persons(db, server.instance, bundle.folder)
        check(miss == 0, "台账包中的每个人都在数据库中", f"缺 {miss} 人")
        # the form is gone once loaded; a request sent all the same (a second tab) is refused
        status, _, page = b.post(f"/uploads/{job}/commit", token_from=f"/uploads/{job}")
        check(status == 200 and "已经确认导入过" in page and counts(db) == after,
              "再提交一次导入被拒绝，不会重复导入")
    finally:
        server.stop()
    env = dict(os.environ, AUDIT_INSTANCE_PATH=str(server.instance))
    for k in ("DATABASE_URL", "AUDIT_PII_KEY", "SECRET_KEY"):
        env.pop(k, None)
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "audit"), "verify-log"], env=env, capture_output=True,
                          text=True, check=False)
    said = (proc.stdout + proc.stderr).strip().splitlines()
    check(proc.returncode == 0, "审计日志哈希链完整（audit verify-log）", said[-1][:160] if said else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7, help="the bundle's seed (the demo county's is 2026)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (instances, server logs)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="check-upload-crash-"))
    check = Checks()
    out: dict = {}
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        bundle = make_bundle(tmp, args.persons, args.months, args.seed)
        raw = sum(f.stat().st_size for f in bundle.folder.iterdir())
        print(f"台账包：{args.persons:,} 人，{sum(bundle.rows.values()):,} 行"
              f"（考勤 {bundle.rows['attendance']:,}，"
              f"工资 {bundle.rows['wages']:,}），CSV {raw / 2**20:.1f} MiB，"
              f"zip {len(bundle.zip_bytes) / 2**20:.1f} MiB，"
              f"生成 {time.perf_counter() - t:.1f} s；机器 {os.cpu_count()} 核")
        out["zip_mib"] = len(bundle.zip_bytes) / 2**20
        for step in (whole_upload, killed_upload):
            try:
                step(args, tmp, bundle, check, out)
            except Stop:
                pass
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, with the server's log
                check(False, f"{step.__name__} 未能进行完", f"{exc.__class__.__name__}: {exc}")
    finally:
        report(args, check, out, time.perf_counter() - started, tmp)
        if args.keep or check.failed:
            print(f"（临时目录保留在 {tmp}，含各次服务器日志）")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if check.failed or not check.results else 0


def report(args, check: Checks, out: dict, seconds: float, tmp: Path) -> None:
    print("\n== 报告 ==")
    print(f"命令：.venv/bin/python tests/benchmarks/check_upload_crash.py --persons {args.persons} "
          f"--months {args.months} --seed {args.seed}")
    if "a_total" in out:
        print(f"完整上传：zip {out['zip_mib']:.1f} MiB；检查 {out['a_check']:.1f} s，"
              f"导入 {out['a_load']:.1f} s，"
              f"从上传到导入完成 {out['a_total']:.1f} s")
        a0, a1 = out["a_before"], out["a_after"]
        print("  数据库（上传前 → 后）：" + "，".join(f"{t} {a0[t]:,} → {a1[t]:,}" for t in SHOWN))
    if "b_load_killed_at" in out:
        p, msg = out["b_load_killed_at"]
        print(f"kill -9：检查在 {out.get('b_check_killed_at')}% 时、导入在 {p}%（{msg}）时被终止；"
              f"重启 {out.get('b_restart', 0):.1f} s；重新导入 {out.get('b_retry', 0):.1f} s")
    passed = len(check.results) - len(check.failed)
    print(f"检查 {len(check.results)} 项，通过 {passed} 项，失败 {len(check.failed)} 项；"
          f"共用时 {seconds:.0f} s")
    for what in check.failed:
        print(f"  失败：{what}")


if __name__ == "__main__":
    sys.exit(main())
