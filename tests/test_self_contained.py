"""A clone of the repository is complete: no tracked file links or refers to a place outside
it (a sibling folder of notes, a document kept elsewhere, an absolute path on one machine)."""
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Spelled in pieces so this file does not trip its own check.
OUTSIDE = [
    ("a path into a sibling folder", re.compile(re.escape("../" + "shared"))),
    ("a document kept outside the repository", re.compile(r"\b(?:DOMAIN|DESIGN|SPIFFWORKFLOW-NOTES)" + r"\.md\b")),
    ("an absolute path on the developers' machine", re.compile("/" + r"work/(?:main|shared|wt-)")),
]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [ROOT / name for name in out.decode().split("\0") if name]


def _text(path: Path) -> str | None:
    if path.is_symlink():
        return os.readlink(path)  # a link's target is what it refers to
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None  # binary (screenshots, fixtures): nothing to read


def test_no_tracked_file_refers_outside_the_repository():
    found = []
    for path in _tracked_files():
        text = _text(path)
        if text is None:
            continue
        for what, pattern in OUTSIDE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what} ({match.group(0)})")
    assert not found, "\n".join(found)


def test_every_relative_link_in_the_documents_stays_inside_and_exists():
    broken = []
    for path in _tracked_files():
        if path.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:|#", target):
                continue  # a web address or an anchor on the same page
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_the_check_catches_a_reference_outside(tmp_path):
    samples = ["see ../" + "shared/notes", "the law is in DOMAIN" + ".md §4", "/" + "work/main/.venv"]
    for sample in samples:
        assert any(pattern.search(sample) for _, pattern in OUTSIDE), sample
