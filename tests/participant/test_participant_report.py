"""The participant report ``OUTPUT_DIR/sub-<label>.html``: every section, every image embedded, no raw reprs."""

import base64
import re
from html.parser import HTMLParser

import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow

N_FRAMES = 120
SPIKES = [30, 31, 70]


class _Page(HTMLParser):
    """The visible text, the image sources and the headings of a page."""

    def __init__(self):
        super().__init__()
        self.text, self.images, self.headings, self._skip, self._heading = [], [], [], False, None

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip = True
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = ""

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = False
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
            if self._heading is not None:
                self._heading += data


@pytest.fixture(scope="module")
def reports(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("report")
    design = {"01": {"pre1": [SPIKES, [45]]}, "02": {"post": [[]]}}
    make_dataset(root / "bids", shared_data, design, seed=3, n_frames=N_FRAMES, n_dummy=2)
    out = root / "out"
    # sub-01 keeps about 230 frames over two runs, sub-02 118 in one: --min-frames 200 excludes sub-02's session
    code = main([str(root / "bids"), str(out), "participant", "-w", str(root / "work"), "--min-frames", "200",
                 "--atlas-dir", str(shared_data / "atlases"), "--nprocs", "2"])
    pages = {}
    for sub in ("01", "02"):
        page = _Page()
        page.feed((out / f"sub-{sub}.html").read_text())
        pages[sub] = page
    return {"code": code, "out": out, "pages": pages}


def test_one_report_per_participant_and_nothing_half_written(reports):
    assert reports["code"] == 0
    assert sorted(p.name for p in reports["out"].glob("sub-*.html")) == ["sub-01.html", "sub-02.html"]
    assert not [p for p in reports["out"].rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_every_section_is_present(reports):
    heads = reports["pages"]["01"].headings
    for expected in ("sub-01", "Summary", "Session ses-pre1", "Data retained per run", "Network measures",
                     "Functional connectivity", "Runs", "Run run-1", "Run run-2", "Methods", "Settings"):
        assert expected in heads, expected
    assert "Session ses-post" in reports["pages"]["02"].headings and "Run run-1" in reports["pages"]["02"].headings


def test_every_image_is_an_embedded_png(reports):
    for sub, n_runs in (("01", 2), ("02", 1)):
        images = reports["pages"][sub].images
        # per run: motion/DVARS/carpet and the atlas; per session: the FC matrix
        assert len(images) == 2 * n_runs + 1
        for src in images:
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_missing_value_or_python_repr_in_the_text(reports):
    for page in reports["pages"].values():
        text = " ".join(page.text)
        assert not re.search(r"\bnan\b|\bNone\b|<NA>|\bNaN\b", text), re.findall(r".{40}(?:nan|None|NA).{40}", text)
        assert not re.search(r"\[[^\]]*\]|\{[^}]*\}", text)


def test_inclusion_decision_and_numbers_match_the_outputs(reports):
    text1 = " ".join(reports["pages"]["01"].text)
    text2 = " ".join(reports["pages"]["02"].text)
    assert "Included in the group analyses." in text1
    assert "Excluded from the group analyses: 118 retained frames < minimum 200." in text2
    func = reports["out"] / "sub-01" / "ses-pre1" / "func"
    run1 = read_tsv(func / "sub-01_ses-pre1_task-rest_run-1_outliers.tsv")
    n_fd = int(run1["fd_outlier"].sum())
    assert n_fd >= len(SPIKES)
    assert f"{N_FRAMES} frames (TR 2 s): 2 dummy scans removed, {n_fd} above the FD threshold of 0.2 mm" in text1
    retained = sum(int(read_tsv(func / f"sub-01_ses-pre1_task-rest_run-{r}_outliers.tsv")["retained"].sum())
                   for r in (1, 2))
    assert f"{retained} frames retained over 2 run(s) ({retained * 2 / 60:.1f} min); the minimum is 200 frames" in text1
    measures = read_tsv(func / "sub-01_ses-pre1_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-network_"
                        "measures.tsv").iloc[0]
    assert f"within-DMN FC {measures['dmn']:.3g} {measures['n_pairs_dmn']}" in re.sub(r"\s+", " ", text1)
