"""MkDocs hook: lets the docs link files outside `docs/` as they do on GitHub.

The pages link the committed results (and scripts) with paths such as
`../benchmarks/results/finetune.png`, which work when the Markdown is read
in the repository. MkDocs only serves files inside `docs_dir`, so this hook
adds each linked repository file to the site under its own path
(`benchmarks/results/finetune.png`) and rewrites the link to match. A link
to a file that does not exist is left alone, so `--strict` still reports it.
"""

import os
import re

from mkdocs.structure.files import File

_LINK = re.compile(r"(\]\(|<img src=\")((?:\.\./)+)([^)\s\"#]+)")


def _outside(page_uri, ups, rest, docs_dir):
    """The repository path a link `ups + rest` from `page_uri` points at, if
    it leaves `docs_dir` and names an existing file; else None."""
    page_dir = os.path.dirname(os.path.join(docs_dir, page_uri))
    target = os.path.normpath(os.path.join(page_dir, ups + rest))
    repo = os.path.dirname(os.path.abspath(docs_dir))
    if target.startswith(os.path.abspath(docs_dir) + os.sep):
        return None
    if not target.startswith(repo + os.sep) or not os.path.isfile(target):
        return None
    return os.path.relpath(target, repo).replace(os.sep, "/")


def on_files(files, config):
    docs_dir = config["docs_dir"]
    repo = os.path.dirname(os.path.abspath(docs_dir))
    wanted = set()
    for file in list(files):
        if not file.src_uri.endswith(".md"):
            continue
        with open(file.abs_src_path, encoding="utf-8") as f:
            text = f.read()
        for _, ups, rest in _LINK.findall(text):
            path = _outside(file.src_uri, ups, rest, docs_dir)
            if path:
                wanted.add(path)
    for path in sorted(wanted):
        if files.get_file_from_path(path) is None:
            files.append(File(path, src_dir=repo, dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    docs_dir = config["docs_dir"]
    if not os.path.abspath(page.file.abs_src_path).startswith(
            os.path.abspath(docs_dir) + os.sep):
        return markdown  # a repository file added above: links as they are
    depth = page.file.src_uri.count("/")

    def rewrite(match):
        opener, ups, rest = match.groups()
        path = _outside(page.file.src_uri, ups, rest, docs_dir)
        if path is None:
            return match.group(0)
        return opener + "../" * depth + path

    return _LINK.sub(rewrite, markdown)
