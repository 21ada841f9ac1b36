"""README and docs/ do not drift from the code and the committed results.

- Every fenced ```python block of README.md and docs/*.md runs: the blocks
  of one page run in order as one script, in a fresh process and an empty
  folder (all pages at once). Only the training length is cut: `epochs=N`
  with N >= 10 runs with 2 epochs (the schedules adapt to any `fit`
  length). A block that must not run is preceded by `<!-- docs-test: skip (the reason) -->`.
- The mkdocs site, with the API reference generated from the docstrings,
  builds with warnings as errors, and lists every name of `tfprune.__all__`.
- README's digits row and test-suite time are those of the committed
  outputs in benchmarks/results/.
"""

import glob
import json
import os
import re
import subprocess
import sys

import pytest

import tfprune
from conftest import REPO

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!-- docs-test: skip \((.+?)\) -->\s*$")
PAGES = ["README.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))

# Checks appended to a page's script: what its prose promises.
# (Pages not listed just run.)
CHECKS = {
    "README.md": """
removed = 1 - tfprune.measure(small)["params"] / tfprune.measure(model)["params"]
assert abs(removed - 0.9) <= 0.005, removed
assert len(tflite) < 20_000
""",
    "docs/train-to-a-ratio.md": """
before, after = tfprune.measure(model), tfprune.measure(small)
assert 1 - after["params"] / before["params"] >= 0.9 - 0.005
""",
    "docs/prune-a-trained-model.md": """
small = tfprune.shrink(gated)
removed = 1 - tfprune.measure(small)["macs"] / tfprune.measure(trained)["macs"]
assert abs(removed - 0.5) <= 0.005, removed
assert not any(isinstance(l, tfprune.ChannelGate) for l in small.layers)
""",
    "docs/device-budgets.md": """
assert report["tflite_bytes"] <= 30_000, report["tflite_bytes"]
assert report["arena_bytes_measured"] <= 7_000, report["arena_bytes_measured"]
""",
    "docs/deploy-mcu.md": """
assert {"model.tflite", "model_data.cc", "model_data.h", "op_resolver.h",
        "deploy_report.json"} <= set(os.listdir("fw"))
""",
    "docs/distributed-and-resuming.md": """
assert strategy.num_replicas_in_sync == 2
removed = 1 - tfprune.measure(small)["params"] / tfprune.measure(model)["params"]
assert abs(removed - 0.9) <= 0.01, removed
assert resumed == uninterrupted, (resumed, uninterrupted)
""",
    "docs/extending.md": """
assert np.abs(gated.predict(x, verbose=0) - small.predict(x, verbose=0)).max() <= 1e-4
""",
}


def _read(page):
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        return f.read()


def python_blocks(text):
    """`(code, skip reason or None)` of every ```python block of `text`."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        blocks.append((match.group(2), skip.group(1) if skip else None))
    return blocks


def _shorten(code):
    return re.sub(r"\bepochs=(\d+)",
                  lambda m: f"epochs={2 if int(m.group(1)) >= 10 else m.group(1)}",
                  code)


RUNNABLE = [page for page in PAGES if python_blocks(_read(page))]


def test_skipped_blocks_say_why():
    for page in PAGES:
        text = _read(page)
        for match in re.finditer(r"<!-- docs-test: skip(.*?)-->", text):
            assert SKIP.search(match.group(0) + "\n"), (
                f"{page}: a skip marker needs a reason: {match.group(0)}")


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory):
    """Starts the script of every page at once (they are independent), so
    the pages share the cores; each test then waits for its own."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    runs = {}
    for page in RUNNABLE:
        folder = tmp_path_factory.mktemp(re.sub(r"\W", "_", page))
        blocks = [code for code, skip in python_blocks(_read(page))
                  if skip is None]
        script = folder / "page.py"
        script.write_text(_shorten("\n".join(blocks)) + CHECKS.get(page, ""))
        log = open(folder / "stderr.txt", "w")
        runs[page] = (subprocess.Popen(
            [sys.executable, str(script)], cwd=folder, env=env,
            stdout=subprocess.DEVNULL, stderr=log), folder / "stderr.txt")
        log.close()
    yield runs
    for process, _ in runs.values():
        process.kill()


@pytest.mark.parametrize("page", RUNNABLE)
@pytest.mark.slow
def test_python_blocks_run(page, page_runs):
    process, log = page_runs[page]
    process.wait(timeout=900)
    assert process.returncode == 0, log.read_text()[-4000:]


def test_mkdocs_site_builds_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
        timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in tfprune.__all__:
        assert f'id="tfprune.{name}"' in api, name
    # The result files the pages link are part of the site.
    assert (tmp_path / "site" / "benchmarks" / "results" / "finetune.png").exists()


def test_api_reference_lists_every_public_name():
    entries = re.findall(r"^::: tfprune\.(\w+)\s*$", _read("docs/api.md"), re.M)
    assert len(entries) == len(set(entries))
    harness = {"pipeline", "data"}  # subpackages, documented whole
    assert sorted(set(entries) - harness) == sorted(tfprune.__all__)


def test_nav_lists_every_page():
    nav = _read("mkdocs.yml")
    for path in glob.glob(os.path.join(REPO, "docs", "*.md")):
        assert os.path.basename(path) in nav, path


def _relative_links(text):
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#")[0]


@pytest.mark.parametrize("page", ["README.md", "BUILD.md"])
def test_links_of_root_pages_exist(page):
    for target in _relative_links(_read(page)):
        assert os.path.exists(os.path.join(REPO, target)), f"{page}: {target}"


def test_readme_digits_numbers_are_the_committed_outputs():
    results = os.path.join(REPO, "benchmarks", "results")
    pruned = json.load(open(os.path.join(results, "digits_report.json")))
    unpruned = json.load(open(os.path.join(results, "digits_unpruned_report.json")))
    readme = _read("README.md")
    row = next(line for line in readme.splitlines()
               if line.startswith("| Digits, the main job"))
    expected = [
        f"{pruned['before']['params']:,} → {pruned['after']['params']:,} params",
        f"(−{pruned['removed']['params']:.2%})",
        f"{pruned['val_accuracy_float']:.2%} float and int8",
        f"(unpruned {unpruned['val_accuracy_float']:.2%})",
        f"{unpruned['tflite_bytes']:,} → {pruned['tflite_bytes']:,} B",
    ]
    assert pruned["val_accuracy_int8_litert"] == pruned["val_accuracy_float"]
    for text in expected:
        assert text in row, (text, row)
    table = _read("docs/results.md")
    for report, name in ((unpruned, "unpruned"), (pruned, "tfprune")):
        line = next(l for l in table.splitlines() if l.startswith(f"| {name} ")
                    and "--target" in l)
        for value in (f"{report['after']['params']:,}",
                      f"{report['val_accuracy_float']:.2%}",
                      f"{report['val_accuracy_int8_tflm']:.2%}",
                      f"{report['tflite_bytes']:,}",
                      f"{report['tflm_arena_bytes']:,}"):
            assert f" {value}" in line, (value, line)


def test_readme_suite_time_is_the_committed_measurement():
    measured = open(os.path.join(REPO, "benchmarks", "results",
                                 "test_suite_durations.txt")).read()
    assert "Exit status: 0" in measured
    seconds = float(re.search(r"^Wall time: (\d+) s$", measured, re.M).group(1))
    assert f"{round(seconds / 60)} minutes on 2 cores" in _read("README.md")


def test_readme_fresh_machine_commands():
    readme = _read("README.md")
    main_job = 'pip install -e ".[recipes]" && python recipes/digits.py'
    tests = 'pip install -e ".[test]" && python -m pytest -q'
    blocks = [code.strip() for lang, code in FENCE.findall(readme)
              if lang == "bash"]
    assert main_job in blocks and tests in blocks
    ci = _read(".ci/run")
    assert 'pip install -e ".[test]"' in ci and "python -m pytest -q" in ci
    assert "tflite-support" in ci and "tflite-support" in readme
