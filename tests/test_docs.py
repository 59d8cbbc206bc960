"""The documentation site (tools/build-docs): built with warnings as errors, offline, into
.cache/docs (browsable after ./testbed/test); every role's entry points and variables and every
guide are in it, and a README edit that breaks a guide fails the build."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / ".cache" / "docs"
GUIDES = {  # page: README.md's marker (None: a file included whole)
    "site-repository": "site-repository", "upgrade": "upgrade", "databases": "databases",
    "directory-users": "directory-users",
    "offline": "offline", "ephemeral": "ephemeral", "course": "course", "SECURITY": None,
}


def build_docs(root, output):
    return subprocess.run([str(root / "tools" / "build-docs"), str(output)], capture_output=True, text=True,
                          timeout=900, check=False)


def words(html):
    """A page's text, tags and entities aside, blanks squeezed."""
    return " ".join(re.sub(r"<[^>]+>|&[a-z#0-9]+;", " ", html).split())


@pytest.fixture(name="site", scope="module")
def fixture_site():
    result = build_docs(REPO, SITE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return SITE


@pytest.mark.parametrize("role", sorted(p.parent.parent.name for p in REPO.glob("roles/*/meta/argument_specs.yml")))
def test_every_role_entry_point_and_variable_is_rendered(site, role):
    page = words((site / "collection" / f"{role}_role.html").read_text())
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    missing = [f"{entry}: {option}" for entry, spec in specs.items()
               for option in [f"Entry point {entry}", *(spec.get("options") or {})] if option not in page]
    assert not missing, f"{role}_role.html lacks {missing}"


@pytest.mark.parametrize("guide", GUIDES)
def test_every_guide_holds_its_readme_section(site, guide):
    page = words((site / f"{guide}.html").read_text())
    if GUIDES[guide] is None:
        source = (REPO / f"{guide}.md").read_text()
    else:
        source = (REPO / "README.md").read_text()
        source = source.split(f"<!-- docs:{GUIDES[guide]} -->")[1].split(f"<!-- /docs:{GUIDES[guide]} -->")[0]
    # Every run of four plain words (no markup in or around them) of the source is on the page.
    runs = re.findall(r"(?<![\w`*_/.:-])([A-Za-z]+(?: [A-Za-z]+){3})(?![\w`*_/.:-])", source)
    assert len(runs) >= 10, f"{guide}: too little plain text to compare ({runs})"
    assert [r for r in runs if r not in page] == [], guide


def test_a_readme_edit_that_breaks_a_guide_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", ".cache", ".venv", "dist"))
    (copy / ".cache").mkdir()
    (copy / ".cache" / "docs-venv").symlink_to(REPO / ".cache" / "docs-venv")  # made by the fixture's build
    readme = copy / "README.md"
    readme.write_text(readme.read_text().replace("<!-- /docs:databases -->", ""))
    result = build_docs(copy, tmp_path / "out")
    assert result.returncode != 0
    assert "end-before" in result.stdout + result.stderr and "databases.md" in result.stdout + result.stderr


def test_the_site_builds_with_no_network_at_all(site, tmp_path):
    # In a network namespace of its own (no interface but a down loopback): no intersphinx
    # inventory or anything else is fetched. The venv is the fixture's.
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--net", "true"], check=False).returncode:
        pytest.skip("no network namespace here (unshare --net needs root)")
    result = subprocess.run(["unshare", "--net", str(REPO / "tools" / "build-docs"), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "out" / "collection" / "hub_role.html").is_file()
