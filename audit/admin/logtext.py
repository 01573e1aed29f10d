"""The audit log read as sentences: one Chinese sentence per entry (「审计人员 王某 向 白帝村村民委员会 下发
整改通知书 渝奉人社审〔2026〕3号（5 条问题，应追回 5,400.00 元）」) from a table of action → sentence,
the changed fields as (field in Chinese, old, new) rows, and the client's address, browser and the
entry's hash apart. An action missing from the table still reads as a sentence (``generic``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from audit.money import yuan
from models import FINDING_STATUSES, ROLES, User, db

# How the fields of ``old`` / ``new`` read (the others keep their key).
FIELDS = {
    "status": "状态", "note": "意见", "rule": "规则", "scopes": "范围", "role": "角色", "active": "启用",
    "failures": "连续失败次数", "locked": "已锁定", "reason": "原因", "method": "请求方式", "path": "路径",
    "error": "错误", "days": "天数", "deadline": "整改期限", "last_import": "最近导入",
    "limit_days": "期限（天）",
    "unit": "单位", "username": "用户名", "limit": "失败次数上限", "window_minutes": "时间窗口（分钟）",
    "verdict": "审核意见", "files": "文件", "findings": "问题条数", "recover_fen": "应追回（元）",
    "default": "缺省值", "value": "设定值", "effective_from": "生效日期", "district": "区县",
    "township": "乡镇街道",
    "format": "格式", "category": "类别", "full_identifiers": "含完整证件号", "output": "输出文件",
    "fields": "查看的字段", "wage_rows": "工资记录条数", "kind": "类型", "month": "月份", "rows": "行数",
    "source": "来源", "inserted": "新增", "updated": "修改", "unchanged": "未变", "changes": "修改明细",
    "cells": "原记录", "check_job": "检查任务", "ok": "是否通过", "errors": "错误数",
    "scope_errors": "超出范围错误数",
    "bytes": "大小（字节）", "added": "新增", "changed": "更新", "total": "发现总数", "new": "新增发现",
    "resolved": "数据已消除", "rules": "规则", "name": "文件名", "sha256": "文件摘要", "size": "大小（字节）",
    "notice_id": "通知书", "pages": "页数", "params": "参数", "ids": "身份证号", "accounts": "账号",
    "findings_renamed": "改号的发现", "amount_fen": "金额（元）", "recovered_on": "追回日期",
    "close_basis": "销号依据", "close_reason": "销号理由", "item": "问题", "items": "问题条数",
    "basis": "销号依据", "basis_zh": "销号依据", "voucher": "凭证", "voucher_id": "凭证", "amount": "金额",
    "second_factor": "第二步验证", "left": "剩余恢复码", "recovery_codes": "恢复码个数",
    "started": "会话登录时间",
    "session_ip": "会话地址", "session_browser": "会话浏览器", "enrolled": "已启用两步验证",
    "count": "条数", "old_head_seq": "原链头序号", "old_head_hash": "原链头哈希", "key": "密钥指纹",
    "verdicts": "准予发放的校验结果", "signed": "签名", "not_approved": "未批准的行数", "file": "文件",
    "as_of": "校验日",
}
REASONS = {"unknown user": "用户名不存在", "locked": "账户已锁定", "inactive": "账户已停用"}
# Keys that are not changes: the client's address and browser have columns of their own.
APART = ("ip", "ua", "user_agent")
STATUSES = {**FINDING_STATUSES, "issued": "已下发", "answered": "已回复", "returned": "已退回",
            "closed": "已销号", "overdue": "已逾期", "committed": "已导入", "no_change": "无变化",
            "finished": "已完成", "failed": "失败", "running": "运行中"}
CLOSE_BASIS = {"data": "数据已消除", "override": "人工销号"}


@dataclass
class Entry:
    at: Any
    seq: int | None
    actor: str
    action: str
    sentence: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    ip: str | None = None
    ua: str | None = None
    hash: str | None = None


def browser(ua: str | None) -> str:
    """A user agent as a person reads it: 「Chrome 120 · Windows」 (the whole string stays in the log)."""
    if not ua:
        return "—"
    import re

    name = next((f"{label} {m.group(1)}" for label, pat in (
        ("Edge", r"Edg(?:e|A|iOS)?/(\d+)"), ("微信", r"MicroMessenger/(\d+)"), ("Firefox", r"Firefox/(\d+)"),
        ("Chrome", r"(?:Headless)?Chrom(?:e|ium)/(\d+)"), ("Safari", r"Version/(\d+).*Safari"))
        if (m := re.search(pat, ua))), None)
    system = next((label for label, pat in (
        ("Android", "Android"), ("iOS", r"iPhone|iPad"), ("Windows", "Windows"), ("macOS", "Mac OS X"),
        ("Linux", "Linux")) if re.search(pat, ua)), None)
    if name is None:
        return ua[:40] + ("…" if len(ua) > 40 else "")
    return f"{name} · {system}" if system else name


def who(actor: str, users: dict[str, User]) -> str:
    """「审计人员 王某」 for a user; the scheduler, the command line and others by what they are."""
    u = users.get(actor)
    if u is not None:
        return f"{ROLES.get(u.role, u.role)} {u.display_name or u.username}"
    if actor.startswith("job:"):
        return "定时任务"
    if actor.startswith("cli:"):
        return f"命令行用户 {actor[4:]}"
    if actor.startswith("device:"):
        return f"考勤设备 {actor[7:]}"
    if actor in ("anonymous", ""):
        return "未登录的访问者"
    return f"用户 {actor}"


def _n(v) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _status(v) -> str:
    return STATUSES.get(v, v) if isinstance(v, str) else _value("", v)


def _finding(e, ctx) -> str:
    new = e.new or {}
    rule = new.get("rule") or ""
    about = ctx.finding_subjects.get(e.row_ref) or f"编号 {e.row_ref}"
    return f"问题「{ctx.rule_name(rule)}」（{about}）" if rule else f"问题 {e.row_ref}（{about}）"


def _notice_unit(e, ctx) -> str:
    return ctx.notice_units.get(e.row_id) or _unit((e.new or {}).get("unit"), ctx)


def _unit(u, ctx) -> str:
    return ctx.unit_names.get(u, u) if u else "（未知单位）"


def _with_note(text: str, e) -> str:
    note = (e.new or {}).get("note")
    return f"{text}，意见：{note}" if note else text


def _import_commit(e, ctx) -> str:
    new = e.new or {}
    added = (sum((new.get("added") or {}).values()) if isinstance(new.get("added"), dict)
             else new.get("added") or 0)
    changed = (sum((new.get("changed") or {}).values()) if isinstance(new.get("changed"), dict)
               else new.get("changed") or 0)
    if new.get("status") == "no_change":
        return f"导入台账 {e.row_ref or ''}（批次 #{e.row_id}），数据无变化"
    return f"导入台账 {e.row_ref or ''}（批次 #{e.row_id}），新增 {_n(added)} 条、更新 {_n(changed)} 条记录"


def _audit_run(e, ctx) -> str:
    new = e.new or {}
    rules = new.get("rules")
    which = "全部规则" if rules in (None, "all") else "规则 " + "、".join(rules)
    done = "完成" if new.get("status") in (None, "finished") else _status(new.get("status"))
    return (f"运行审计（第 {e.row_id} 次，基准日 {e.row_ref}，{which}）：{done}，"
            f"发现 {_n(new.get('total', 0))} 条，"
            f"其中新增 {_n(new.get('new', 0))} 条、数据已消除 {_n(new.get('resolved', 0))} 条")


def _notice_issue(e, ctx) -> str:
    new = e.new or {}
    return (f"向 {_notice_unit(e, ctx)} 下发整改通知书 {e.row_ref}（{new.get('findings', 0)} 条问题，"
            f"应追回 {yuan(new.get('recover_fen') or 0)} 元，整改期限 {new.get('deadline', '—')}）")


def _export(e, ctx) -> str:
    new = e.new or {}
    fmt = str(new.get("format") or "").upper()
    full = "（含完整证件号，供授权的机器处理）" if new.get("full_identifiers") else "（证件号、账号已脱敏）"
    return f"导出审计发现 {_n(new.get('findings', 0))} 条为 {fmt} 文件{full}"


def _replay(e, ctx) -> str:
    new = e.new or {}
    rules = new.get("rules")
    which = "全部规则" if rules in (None, "all") else "规则 " + "、".join(rules)
    done = "完成" if new.get("status") in (None, "finished") else _status(new.get("status"))
    number = f"回放 #{e.row_id}，" if e.row_id else ""
    return (f"回放审计（{number}基准日 {e.row_ref}，{which}，不改动当前的审计发现）：{done}，"
            f"发现 {_n(new.get('total', 0))} 条")


def _replay_export(e, ctx) -> str:
    new = e.new or {}
    fmt = str(new.get("format") or "").upper()
    full = "（含完整证件号，供授权的机器处理）" if new.get("full_identifiers") else "（证件号、账号已脱敏）"
    return (f"导出审计回放 #{e.row_id}（基准日 {e.row_ref}）的 {_n(new.get('findings', 0))} 条审计发现为 "
            f"{fmt} 文件{full}")


def _precheck(e, ctx) -> str:
    new = e.new or {}
    number = f"第 {e.row_id} 号，" if e.row_id else ""
    return (f"发放前校验工资发放表「{new.get('file', '')}」（{number}校验日 {new.get('as_of', '')}）：共 "
            f"{_n(new.get('rows', 0))} 行，可发放 {_n(new.get('pass', 0))} 行、"
            f"暂缓发放 {_n(new.get('hold', 0))} 行、"
            f"不予发放 {_n(new.get('reject', 0))} 行")


def _precheck_approve(e, ctx) -> str:
    new = e.new or {}
    which = "可发放和暂缓发放" if "hold" in (new.get("verdicts") or []) else "可发放"
    return (f"审批发放前校验第 {e.row_id} 号（工资发放表「{new.get('file', '')}」，"
            f"校验日 {new.get('as_of', '')}）："
            f"{which}的 {_n(new.get('rows', 0))} 行准予发放，金额 {yuan(new.get('amount_fen') or 0)} 元，"
            f"签名 {new.get('signed', '')}")


def _precheck_export(e, ctx) -> str:
    new = e.new or {}
    fmt = str(new.get("format") or "").upper()
    full = "（含完整证件号）" if new.get("full_identifiers") else "（证件号、账号已脱敏）"
    return (f"下载发放前校验第 {e.row_id} 号（工资发放表「{new.get('file', '')}」）的 "
            f"{_n(new.get('rows', 0))} 行为 "
            f"{fmt} 文件{full}")


def _param(e, ctx) -> str:
    new = e.new or {}
    where = new.get("district") or "全市"
    if new.get("township"):
        where += new["township"]
    rule, _, name = (e.row_ref or "").partition(" ")[0].partition(".")
    return (f"将规则 {ctx.rule_name(rule)} 的参数 {name} 在{where}自 {new.get('effective_from')} 起设为 "
            f"{_value('value', new.get('value'))}")


def _attendance(e, ctx, what: str) -> str:
    new = e.new or {}
    unit = _unit(new.get("unit"), ctx)
    if what == "submit":
        return (f"提交 {unit} {new.get('month')} 的考勤（新增 {_n(new.get('inserted', 0))} 条、修改 "
                f"{_n(new.get('updated', 0))} 条）")
    return f"下载 {unit} {new.get('month')} 的考勤表（{_n(new.get('rows', 0))} 行）"


def _device_call(e, ctx) -> str:
    new = e.new or {}
    unit = _unit(new.get("unit"), ctx)
    if new.get("refused"):
        return f"调用考勤接口被拒（{new.get('refused')}：{new.get('reason', '')}）"
    return (f"上传 {unit} 的考勤 {_n(new.get('received', 0))} 条：写入 {_n(new.get('stored', 0))} 条"
            + (f"（其中替换手工登记 {_n(new['replaced'])} 条）" if new.get("replaced") else "")
            + f"、重复 {_n(new.get('duplicate', 0))} 条、错误 {_n(new.get('error', 0))} 条")


DEVICE_REFUSALS = {"missing": "未携带令牌", "malformed": "令牌格式不对", "unknown": "令牌无效",
                   "revoked": "令牌已吊销"}


# action -> (the sentence without its subject); ``e`` is the ChangeLog row, ``ctx`` the names.
SENTENCES: dict[str, Callable[[Any, Any], str]] = {
    "auth.login": lambda e, c: "登录系统",
    "auth.logout": lambda e, c: "退出登录",
    "auth.timeout": lambda e, c: "长时间未操作，被自动退出登录",
    "auth.expired": lambda e, c: "登录已满规定时长，被自动退出登录",
    "auth.login_failed": lambda e, c: (f"以用户名 {e.row_ref} 登录失败（{_reason(e)}）"),
    "auth.login_refused": lambda e, c: f"以用户名 {e.row_ref} 登录被拒绝（{_reason(e)}）",
    "auth.rate_limited": lambda e, c: (f"从地址 {e.row_ref} 登录失败次数过多，登录被拒绝（用户名 "
                                       f"{(e.new or {}).get('username', '')}）"),
    "access.denied": lambda e, c: (f"越权访问被拒：{(e.new or {}).get('method', '')} "
                                   f"{(e.new or {}).get('path', e.row_ref or '')}"),
    "user.create": lambda e, c: (f"新建用户 {e.row_ref}（{ROLES.get((e.new or {}).get('role'), '')}，范围："
                                 f"{_value('scopes', (e.new or {}).get('scopes'))}）"),
    "user.scopes": lambda e, c: (f"修改用户 {e.row_ref} 的范围为 "
                                 f"{_value('scopes', (e.new or {}).get('scopes'))}"),
    "user.password": lambda e, c: f"重设用户 {e.row_ref} 的密码",
    "user.password_change": lambda e, c: "修改自己的密码",
    "user.active": lambda e, c: f"{'启用' if (e.new or {}).get('active') else '停用'}用户 {e.row_ref}",
    "user.unlock": lambda e, c: f"解除用户 {e.row_ref} 的锁定",
    # B4: the second factor and the limit on sessions
    "auth.totp_failed": lambda e, c: (f"以用户名 {e.row_ref} 登录时两步验证码错误（连续 "
                                      f"{(e.new or {}).get('failures')} 次"
                                      + ("，账户已锁定）" if (e.new or {}).get("locked") else "）")),
    "auth.recovery_code_used": lambda e, c: f"用恢复码代替验证码登录（剩余 {(e.new or {}).get('left')} 个）",
    "auth.session_limit": lambda e, c: (f"同时在线超过 {(e.new or {}).get('limit')} 个会话，最早的会话（"
                                        f"{str((e.new or {}).get('started', '')).replace('T', ' ')} 登录，"
                                        f"{(e.new or {}).get('session_ip') or '—'}，"
                                        f"{(e.new or {}).get('session_browser') or '—'}）被结束"),
    "user.totp_enrol": lambda e, c: "启用两步验证（生成 10 个恢复码）",
    "user.totp_disable": lambda e, c: "停用自己的两步验证",
    "user.totp_reset": lambda e, c: f"重置用户 {e.row_ref} 的两步验证",
    "user.recovery_codes": lambda e, c: "重新生成两步验证恢复码",
    "pii.view": lambda e, c: f"查看人员 {c.person_label(e)} 的完整身份证号与银行账号",
    "log.rekeyed": lambda e, c: ("将旧格式（不带密钥的 SHA-256）的日志链升级为 HMAC-SHA256 链："
                                 f"重新计算了{e.row_ref}的哈希，内容未变"),
    "pii.rotate": lambda e, c: (f"轮换个人信息密钥，重新加密 {_n((e.new or {}).get('rows', 0))} 行，"
                                f"{_n((e.new or {}).get('findings_renamed', 0))} 条审计发现改号"),
    "import.commit": _import_commit,
    "import.update": lambda e, c: (f"导入时更新{c.table_name(e.table_name)}记录 {e.row_ref or e.row_id or ''}"
                                   + (f"（批次 #{e.batch_id}）" if e.batch_id else "")),
    "import.delete": lambda e, c: (f"导入的「替换范围」删除{c.table_name(e.table_name)}记录 "
                                   f"{e.row_ref or e.row_id or ''}"
                                   + (f"（批次 #{e.batch_id}）" if e.batch_id else "")),
    "upload.check": lambda e, c: (f"上传并检查台账 {e.row_ref}：" + (
        "检查通过" if (e.new or {}).get("ok") else f"发现 {_n((e.new or {}).get('errors', 0))} 处错误")),
    "upload.commit": lambda e, c: (f"确认导入上传的台账 {e.row_ref}：" + (
        f"新增 {_n((e.new or {}).get('added', 0))} 条、更新 {_n((e.new or {}).get('changed', 0))} 条记录"
        if (e.new or {}).get("ok") else "导入失败")),
    "audit.run": _audit_run,
    "audit.replay": _replay,
    "replay.export": _replay_export,
    "precheck.create": _precheck,
    "precheck.warning": lambda e, c: (
        f"发放前预警：{_unit((e.new or {}).get('unit'), c)} {(e.new or {}).get('period', '')} 将暂缓发放 "
        f"{(e.new or {}).get('hold', 0)} 人次、不予发放 {(e.new or {}).get('reject', 0)} 人次"
        + (f"（{'；'.join((e.new or {}).get('persons') or [])}）" if (e.new or {}).get("persons") else "")),
    "precheck.approve": _precheck_approve,
    "precheck.export": _precheck_export,
    "findings.export": _export,
    "parameter.set": _param,
    "finding.confirm": lambda e, c: _with_note(f"确认{_finding(e, c)}", e),
    "finding.dismiss": lambda e, c: _with_note(f"排除{_finding(e, c)}", e),
    "finding.reopen": lambda e, c: _with_note(f"将{_finding(e, c)}改回待复核", e),
    "finding.close": lambda e, c: _with_note(f"销号{_finding(e, c)}", e),
    "notice.issue": _notice_issue,
    "notice.answer": lambda e, c: (f"为 {_notice_unit(e, c)} 回复整改通知书 {e.row_ref}（附 "
                                   f"{len((e.new or {}).get('files') or [])} 个证明文件）"),
    "notice.close": lambda e, c: f"对整改通知书 {e.row_ref}（{_notice_unit(e, c)}）销号",
    "notice.return": lambda e, c: (f"退回 {_notice_unit(e, c)} 对整改通知书 {e.row_ref} 的回复，"
                                   "要求重新整改"),
    "notice.overdue": lambda e, c: (
        f"整改通知书 {e.row_ref}（{_unit((e.new or {}).get('unit'), c)}）已超过整改期限 "
        f"{(e.new or {}).get('days', '')} 天"),
    "evidence.download": lambda e, c: f"下载整改证明文件 {e.row_ref}",
    "report.download": lambda e, c: f"下载报告《{e.row_ref}》",
    "report.generate": lambda e, c: f"生成报告《{e.row_ref}》（{(e.new or {}).get('pages', '—')} 页）",
    "attendance.sheet": lambda e, c: _attendance(e, c, "sheet"),
    "attendance.submit": lambda e, c: _attendance(e, c, "submit"),
    "comparison.stale": lambda e, c: (
        f"比对数据「{e.row_ref}」已 {(e.new or {}).get('days', '—')} 天未更新（期限 "
        f"{(e.new or {}).get('limit_days', '—')} 天）" if (e.new or {}).get("last_import")
        else f"比对数据「{e.row_ref}」从未导入"),
    "job.failed": lambda e, c: f"定时任务 {e.row_ref} 运行失败：{(e.new or {}).get('error', '')}",
    "notice.draft": lambda e, c: (
        f"为 {_notice_unit(e, c)} 暂存整改通知书 {e.row_ref} 的回复草稿（"
        f"{(e.new or {}).get('items', 0)} 条问题的答复，{(e.new or {}).get('files', 0)} 个文件）"),
    "notice.item_close": lambda e, c: (
        f"对整改通知书 {e.row_ref}（{_notice_unit(e, c)}）中的问题"
        f"「{(e.new or {}).get('item', '')}」销号（"
        f"{(e.new or {}).get('basis_zh') or CLOSE_BASIS.get((e.new or {}).get('basis'), '')}"
        + (f"：{(e.new or {}).get('reason')}" if (e.new or {}).get("reason") else "")
        + "）"),
    "notice.item_return": lambda e, c: (f"退回 {_notice_unit(e, c)} 对整改通知书 {e.row_ref} 中问题"
                                        f"「{(e.new or {}).get('item', '')}」的答复，要求重新整改"),
    "notice.recovery": lambda e, c: (
        f"登记 {_notice_unit(e, c)} 就整改通知书 {e.row_ref} 中问题"
        f"「{(e.new or {}).get('item', '')}」于 {(e.new or {}).get('recovered_on', '')} "
        f"实际追回 {yuan((e.new or {}).get('amount_fen') or 0)} 元"),
    "device.create": lambda e, c: (f"新建考勤设备「{e.row_ref}」的令牌（所属单位："
                                   f"{_unit((e.new or {}).get('unit'), c)}）"),
    "device.revoke": lambda e, c: f"吊销考勤设备「{e.row_ref}」的令牌",
    "device.attendance": _device_call,
    "device.unauthorized": lambda e, c: (
        f"从地址 {e.row_ref} 调用考勤接口被拒（"
        f"{DEVICE_REFUSALS.get((e.new or {}).get('reason'), '令牌无效')}"
        + (f"，设备「{(e.new or {})['device']}」" if (e.new or {}).get("device") else "")
        + "）"),
    "device.rate_limited": lambda e, c: (
        f"调用考勤接口过于频繁被拒（每 {(e.new or {}).get('window_seconds')} 秒最多 "
        f"{(e.new or {}).get('limit')} 次）"),
}
# Actions that need no subject (what happened, not who did it).
IMPERSONAL = {"notice.overdue", "comparison.stale", "job.failed", "auth.rate_limited", "device.unauthorized",
              "precheck.warning"}


def _reason(e) -> str:
    new = e.new or {}
    if new.get("reason"):
        return REASONS.get(new["reason"], new["reason"])
    if new.get("locked"):
        return f"密码错误，连续 {new.get('failures')} 次，账户已锁定"
    if new.get("failures"):
        return f"密码错误，连续第 {new['failures']} 次"
    return "密码错误"


GROUPS = {"auth": "登录与会话", "access": "访问控制", "user": "用户管理", "pii": "个人信息",
          "import": "数据导入", "upload": "台账上传", "finding": "审计发现", "findings": "审计发现",
          "parameter": "规则参数", "audit": "审计运行",
          "notice": "整改通知书", "recovery": "追回资金", "report": "报告", "evidence": "整改证明文件",
          "attendance": "考勤", "job": "定时任务", "comparison": "比对数据",
          "device": "考勤设备"}


def generic(e, ctx) -> str:
    """A readable sentence for an action missing from the table: its group, its object."""
    group = GROUPS.get((e.action or "").split(".")[0], "")
    what = ctx.table_name(e.table_name) if e.table_name else ""
    obj = " ".join(x for x in (what, e.row_ref or (f"#{e.row_id}" if e.row_id else "")) if x)
    return f"进行了一项{group}操作" + (f"，对象：{obj}" if obj else "") + f"（操作类型 {e.action}）"


def _value(key: str, v) -> str:
    if v is None:
        return "（空）"
    if key == "role" and v in ROLES:
        return ROLES[v]
    if key == "scopes" and not v:
        return "全部地区"
    if key == "status":
        return _status(v)
    if key in ("close_basis", "basis"):
        return CLOSE_BASIS.get(v, v)
    if key == "second_factor" and isinstance(v, str):
        return {"totp": "动态验证码", "recovery": "恢复码"}.get(v, v)
    if key.endswith("_fen") and isinstance(v, int):
        return yuan(v)
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, list):
        if v and all(isinstance(x, dict) for x in v):
            return f"{len(v)} 项"
        return "、".join(str(x) for x in v) or "（无）"
    if isinstance(v, dict):
        return "；".join(f"{ctx_label(k)} {_value(k, x)}" for k, x in v.items()) or "（无）"
    if isinstance(v, str):
        return REASONS.get(v, v)
    return str(v)


def ctx_label(key: str) -> str:
    from audit.engine.runner import TABLE_NAMES

    return FIELDS.get(key) or TABLE_NAMES.get(key) or key


def changes(e, ctx: Names) -> list[tuple[str, str, str]]:
    """(field in Chinese, old, new) of what the entry changed or carried (the address and browser apart)."""
    old, new = e.old or {}, e.new or {}
    keys = [k for k in dict.fromkeys([*old, *new]) if k not in APART]

    def show(k, d):
        if k not in d:
            return ""
        return ctx.rule_name(d[k]) if k == "rule" and isinstance(d[k], str) else _value(k, d[k])

    return [(ctx_label(k), show(k, old), show(k, new)) for k in keys]


class Names:
    """Names the sentences need, looked up once per page: users, notices' units, workshops, rules."""

    def __init__(self, rows):
        from audit.engine.rule import REGISTRY, all_rules
        from audit.engine.runner import TABLE_NAMES
        from models import Notice

        from ..findings.queries import unit_names

        all_rules()
        self._rules = REGISTRY
        self._tables = TABLE_NAMES
        actors = {r.actor for r in rows}
        self.users = {u.username: u
                      for u in db.session.scalars(select(User).where(User.username.in_(actors)))}
        notice_ids = {r.row_id for r in rows if r.table_name == "notices" and r.row_id}
        self.notice_units = dict(db.session.execute(
            select(Notice.id, Notice.unit_name).where(Notice.id.in_(notice_ids))).all()) if notice_ids else {}
        units = {str((r.new or {}).get("unit")) for r in rows if (r.new or {}).get("unit")}
        self.unit_names = unit_names(units)
        pids = {r.row_id for r in rows if r.action == "pii.view" and r.row_id}
        from models import Finding, Person

        fids = {r.row_ref for r in rows if r.table_name == "findings" and r.row_ref}
        self.finding_subjects = {
            fid: f"{name} {masked}" if name else label
            for fid, label, name, masked in db.session.execute(
                select(Finding.id, Finding.subject_label, Person.name, Person.id_masked)
                .outerjoin(Person, Person.id == Finding.person_id).where(Finding.id.in_(fids)))
        } if fids else {}

        self.people = {i: n for i, n in db.session.execute(select(Person.id, Person.name)
                                                            .where(Person.id.in_(pids)))} if pids else {}

    def rule_name(self, code: str) -> str:
        r = self._rules.get(code)
        return f"{code} {r.title}" if r else code

    def table_name(self, table: str | None) -> str:
        return self._tables.get(table or "", "") or {
            "users": "用户", "notices": "整改通知书", "findings": "审计发现", "import_batches": "导入批次",
            "jobs": "后台任务"}.get(table or "", table or "")

    def person_label(self, e) -> str:
        name = self.people.get(e.row_id)
        return f"{name}（{e.row_ref}）" if name else (e.row_ref or "")


def sentence(e, ctx: Names) -> str:
    make = SENTENCES.get(e.action)
    try:
        text = make(e, ctx) if make else generic(e, ctx)
    except (TypeError, ValueError, AttributeError, KeyError):  # an entry of an older shape
        text = generic(e, ctx)
    if e.action in IMPERSONAL:
        return text
    return f"{who(e.actor, ctx.users)} {text}"


def entries(rows) -> list[Entry]:
    ctx = Names(rows)
    out = []
    for e in rows:
        new = e.new or {}
        out.append(Entry(at=e.at, seq=getattr(e, "seq", None), actor=e.actor, action=e.action,
                         sentence=sentence(e, ctx), changes=changes(e, ctx), ip=new.get("ip"),
                         ua=new.get("ua") or new.get("user_agent"), hash=getattr(e, "hash", None)))
    return out
