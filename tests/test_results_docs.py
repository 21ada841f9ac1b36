"""The results README.md and docs/ state are the committed outputs.

- Every file under benchmarks/results/ that README.md, BUILD.md or a page
  of docs/ cites exists, and a row of benchmarks/README.md names the
  script and command that made it (and that script exists).
- Every measured number README.md and the guides state (a decimal with %
  or x, a count with thousands separators) is in an output the same
  paragraph, list item or table row links.
- docs/results.md is tables and notes (at most 400 lines); no page is a
  diary (no dated entries, no "Measured" sections).
"""

import fnmatch
import glob
import json
import os
import re

import pytest

from conftest import REPO

RESULTS = os.path.join(REPO, "benchmarks", "results")
MAP = os.path.join(REPO, "benchmarks", "README.md")
CITING = ["README.md", "BUILD.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs",
                                                             "*.md")))
# Pages that teach a flow (and README): their numbers must be sourced.
GUIDES = ["README.md"] + [p for p in CITING if p.startswith("docs/") and
                          os.path.basename(p) not in (
                              "results.md", "architecture.md", "api.md",
                              "index.md")]

_CITED = re.compile(r"benchmarks/results/([\w.\-/*]+)")
_BACKTICKED = re.compile(r"`([^`]+)`")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# A measured number: 80.01%, 0.782x / 0.782×, 65,520 (B, bytes, params...).
_NUMBER = re.compile(r"(?<![\w.,])(\d+\.\d+)\s?(?:%|x\b|×)|"
                     r"(?<![\w.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")


def _read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def _map_rows():
    """`[(outputs, scripts, prefix)]` from benchmarks/README.md's tables:
    the output names of a row (relative to results/, or results/studies/
    in the studies table) and the files its script cell names."""
    rows, prefix = [], None
    for line in _read(MAP).splitlines():
        if line.startswith("<!-- outputs start"):
            prefix = ""
        elif line.startswith("<!-- studies start"):
            prefix = "studies/"
        elif line.startswith("<!-- ") and line.endswith("end -->"):
            prefix = None
        elif prefix is not None and line.startswith("| `") or (
                prefix is not None and line.startswith("| (printed)")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            outputs = [prefix + name for name in
                       _BACKTICKED.findall(cells[0])]
            scripts = _BACKTICKED.findall(cells[2])
            rows.append((outputs, scripts, prefix))
    return rows


def _covers(output, cited):
    """Whether a row's output name (a file, a folder ending in `/`, or a
    glob) covers the cited path (relative to results/)."""
    if output.endswith("/"):
        return cited.startswith(output) or cited + "/" == output
    return cited == output or fnmatch.fnmatch(cited, output) or \
        cited.startswith(output + "/")


def _cited_outputs():
    """`{path relative to results/: page}` of every citation."""
    cited = {}
    for page in CITING:
        for path in _CITED.findall(_read(page)):
            path = path.rstrip(".").rstrip("/") if not path.endswith("/") \
                else path
            if "*" not in path and "<" not in path:
                cited.setdefault(path, page)
    return cited


def test_the_map_names_existing_scripts():
    rows = _map_rows()
    assert len(rows) > 20
    for outputs, scripts, _ in rows:
        assert outputs and scripts, (outputs, scripts)
        for script in scripts:
            candidates = [os.path.join(REPO, "benchmarks", script),
                          os.path.join(REPO, script)]
            assert any(os.path.exists(c) for c in candidates), script


def test_every_cited_output_exists_and_has_its_script():
    rows = _map_rows()
    cited = _cited_outputs()
    assert len(cited) > 20
    for path, page in sorted(cited.items()):
        assert os.path.exists(os.path.join(RESULTS, path)), (page, path)
        assert any(_covers(output, path) for outputs, _, _ in rows
                   for output in outputs), (
            f"{page} cites benchmarks/results/{path}, which no row of "
            "benchmarks/README.md maps to a script")


def _blocks(text):
    """Paragraphs, list items and table rows of a page, code left out."""
    text = _FENCE.sub("", text)
    blocks, current = [], []
    for line in text.splitlines():
        starts = line.startswith(("- ", "| ", "* ")) or not line.strip()
        if starts and current:
            blocks.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    if current:
        blocks.append(" ".join(current))
    return blocks


def measured_numbers(block):
    """The measured numbers a block states, outside inline code."""
    prose = _BACKTICKED.sub("", block)
    return [a or b for a, b in _NUMBER.findall(prose)]


def _linked_outputs(block):
    return [os.path.join(RESULTS, path) for path in _CITED.findall(block)
            if os.path.isfile(os.path.join(RESULTS, path))]


def _numbers_of(value):
    """Every number in a JSON value, as the docs would state it: counts
    with thousands separators, fractions as percentages."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _numbers_of(item)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    if isinstance(value, int):
        return [f"{value:,}"]
    return [f"{value:.3f}", f"{100 * value:.2f}%", f"{100 * value:.1f}%"]


def output_text(path):
    """An output's text; a JSON's with its numbers written out too."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        text += " " + " ".join(_numbers_of(json.loads(text)))
    return text


def _found(number, texts):
    plain = number.replace(",", "")
    return any(number in text or (plain != number and plain in text)
               for text in texts)


@pytest.mark.parametrize("page", GUIDES)
def test_every_number_a_guide_states_is_in_the_output_it_links(page):
    missing = []
    for block in _blocks(_read(page)):
        numbers = measured_numbers(block)
        if not numbers:
            continue
        texts = [output_text(path) for path in _linked_outputs(block)]
        for number in numbers:
            if not _found(number, texts):
                missing.append(f"{number} in: {block[:120]}...")
    assert not missing, f"{page}:\n" + "\n".join(missing)


def test_the_number_check_reads_numbers_as_stated():
    block = ("tfprune **80.01%** and 0.782× the time, 65,520 B "
             "(`flash_bytes=64_000`, `0.5%`), VGG ×0.25, 2.11x faster")
    assert measured_numbers(block) == ["80.01", "0.782", "65,520", "2.11"]
    assert _found("65,520", ["flash 65520 B"])
    assert not _found("80.01", ["80.1%"])


def test_json_outputs_read_as_the_docs_state_them(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"acc": 0.99663, "after": {"params": 8492}}))
    text = output_text(str(path))
    assert _found("99.66", [text]) and _found("8,492", [text])


def test_results_page_is_tables_and_notes():
    lines = _read("docs/results.md").splitlines()
    assert len(lines) <= 400, len(lines)


@pytest.mark.parametrize("page", CITING)
def test_no_page_is_a_diary(page):
    text = _FENCE.sub("", _read(page))
    assert not re.search(r"^#+ Measured", text, re.M), page
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b", text)
    assert not dates, (page, dates)
