"""The reports' bar charts as a reader finds them in the PDF: two units whose long names share
their beginning (two workshops of one village) keep the ends that tell them apart."""
from __future__ import annotations

import re
import subprocess

from audit.charts import hbars
from reports.render import render


def test_long_unit_names_keep_the_ends_that_tell_them_apart_in_the_pdf(app, tmp_path):
    units = ["奉节县白帝镇白帝村村民委员会扶贫车间（一号）", "奉节县白帝镇白帝村村民委员会扶贫车间（二号）"]
    chart = hbars([{"label": name, "value": 3, "text": "3 条"} for name in units], "涉及金额前 10 名的单位")
    out = render(f"<html><body>{chart}</body></html>")
    path = tmp_path / "chart.pdf"
    path.write_bytes(out.pdf)
    text = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                             check=True).stdout)
    assert "奉节县白帝镇白帝…会扶贫车间（一号）" in text and "奉节县白帝镇白帝…会扶贫车间（二号）" in text
    assert "涉及金额前10名的单位" in text and text.count("3条") == 2
