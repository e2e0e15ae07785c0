"""HTML pieces of the reports: cells print n/a, tables escape, images embed, networks group rows."""

import base64

import numpy as np
import pandas as pd

from ketamine_fc.reports.html import fmt, image, markdown, table
from ketamine_fc.reports.participant_figures import network_order


def test_cells_print_na_and_no_python_reprs():
    assert [fmt(v) for v in (None, float("nan"), pd.NA, np.nan, "", "None", "<NA>")] == ["n/a"] * 7
    assert fmt(True) == "yes" and fmt(np.bool_(False)) == "no"
    assert fmt([1, 2.5, None]) == "1, 2.5, n/a" and fmt([]) == "n/a"
    assert fmt({"a": 1}) == "a: 1"
    assert fmt(0.123456789) == "0.1235" and fmt(0.123456789, 2) == "0.12" and fmt(7) == "7"


def test_table_escapes_and_fills_missing():
    df = pd.DataFrame({"x": [1.0, np.nan], "y": ["<b>", None], "z": [[1, 2], True]})
    html = table(df)
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert html.count("<td>n/a</td>") == 2 and "<td>1, 2</td>" in html and "<td>yes</td>" in html
    assert "nan" not in html and "None" not in html
    assert "First 1 of 2 rows" in table(df, max_rows=1)


def test_image_is_embedded_base64():
    html = image(b"\x89PNG fake", "alt <text>", "a caption")
    src = html.split('src="')[1].split('"')[0]
    assert base64.b64decode(src.removeprefix("data:image/png;base64,")) == b"\x89PNG fake"
    assert "alt &lt;text&gt;" in html and "<figcaption>a caption</figcaption>" in html


def test_markdown_headings_lists_paragraphs():
    html = markdown("First line\nsame paragraph.\n\n## References\n\n- one\n- two")
    assert html == "<p>First line same paragraph.</p>\n<h3>References</h3>\n<ul><li>one</li><li>two</li></ul>"


def test_network_order_groups_regions_and_puts_unassigned_last():
    networks = ["Visual", "Default", None, "Visual", "None", "Default", "Auditory"]
    order, spans = network_order(networks)
    assert sorted(order.tolist()) == list(range(7))
    assert [networks[i] for i in order][:5] == ["Auditory", "Default", "Default", "Visual", "Visual"]
    assert spans == [("Auditory", 0, 1), ("Default", 1, 3), ("Visual", 3, 5), ("unassigned", 5, 7)]
