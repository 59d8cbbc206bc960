"""tools/release on a temporary clone of this checkout: the next patch release is cut (version,
CHANGELOG.rst from the fragments, a checked tarball, a commit and a tag), the tarball rebuilt
from the tag holds the same files with the same contents, and what must stop it stops it
with nothing committed."""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def git(clone, *args):
    return subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True, check=True).stdout


def release(clone, *args):
    return subprocess.run([sys.executable, str(clone / "tools" / "release"), *args], cwd=clone,
                          capture_output=True, text=True, timeout=600, check=False)


def manifests(tarball):
    with tarfile.open(tarball) as archive:
        return {name: json.load(archive.extractfile(name)) for name in ("MANIFEST.json", "FILES.json")}


@pytest.fixture(name="clone")
def fixture_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    git(clone, "config", "user.email", "release-test@example.org")
    git(clone, "config", "user.name", "release test")
    # What the working tree has and its last commit may not (a test run before a commit).
    fragment = clone / "changelogs" / "fragments" / "release-test.yml"
    fragment.parent.mkdir(exist_ok=True)  # a release removes its fragments, and git keeps no empty directory
    fragment.write_text("---\nbugfixes:\n  - release test - a fragment of this test's own.\n")
    git(clone, "add", str(fragment))
    git(clone, "commit", "--quiet", "-m", "a fragment for the release test")
    return clone


def next_patch(clone):
    released = list((yaml.safe_load((clone / "changelogs" / "changelog.yaml").read_text()) or {})
                    .get("releases") or {})
    current = yaml.safe_load((clone / "galaxy.yml").read_text())["version"]
    newest = max([current, *released], key=lambda v: tuple(map(int, v.split("."))))
    major, minor, patch = map(int, newest.split("."))
    return f"{major}.{minor}.{patch + 1}"


def test_a_release_is_cut_in_one_command_and_rebuilds_from_its_tag(clone, tmp_path):
    version = next_patch(clone)
    result = release(clone, version, "--date", "2026-12-04")
    assert result.returncode == 0, result.stdout + result.stderr
    tarball = clone / "dist" / f"unopinionated-jupyterhub-{version}.tar.gz"
    assert f"released {version}: {tarball}" in result.stdout

    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "log", "-1", "--format=%s") == f"Release {version}\n"
    assert git(clone, "tag", "--list", version) == f"{version}\n"
    assert yaml.safe_load((clone / "galaxy.yml").read_text())["version"] == version
    changelog = (clone / "CHANGELOG.rst").read_text()
    assert f"v{version}\n" in changelog and "release test - a fragment of this test's own." in changelog
    assert list((clone / "changelogs" / "fragments").glob("*.yml")) == []
    releases = yaml.safe_load((clone / "changelogs" / "changelog.yaml").read_text())["releases"]
    assert releases[version]["release_date"] == "2026-12-04"

    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "CHANGELOG.rst" in names and not any(n.startswith(("molecule/", "tests/", "changelogs/fragments/"))
                                                for n in names)
    # From the tag alone, in another clone: the same files with the same contents.
    again = tmp_path / "from-tag"
    subprocess.run(["git", "clone", "--quiet", "--branch", version, str(clone), str(again)], check=True,
                   capture_output=True)
    subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build",
                    "--output-path", str(tmp_path)], cwd=again, check=True, capture_output=True)
    assert manifests(tmp_path / tarball.name) == manifests(tarball)


def test_what_must_stop_a_release_stops_it_before_any_commit(clone):
    tags = git(clone, "tag", "--list")
    assert "must be MAJOR.MINOR.PATCH" in release(clone, "2026.12").stderr
    assert "is not above the release" in release(clone, "0.2.0").stderr
    (clone / "README.md").write_text("changed\n")
    assert "uncommitted changes" in release(clone, next_patch(clone)).stderr
    git(clone, "checkout", "README.md")
    git(clone, "rm", "--quiet", "-r", "changelogs/fragments")
    git(clone, "commit", "--quiet", "-m", "no fragments")
    assert "changelogs/fragments/ is empty" in release(clone, next_patch(clone)).stderr
    assert git(clone, "tag", "--list") == tags
    assert git(clone, "log", "-1", "--format=%s") == "no fragments\n"
