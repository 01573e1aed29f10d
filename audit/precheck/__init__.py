"""发放前校验: a draft payroll judged by the audit's own rules before the bank pays it
(shared/docs/precheck.md). ``services.check`` judges, ``services.save`` stores the pre-check."""
