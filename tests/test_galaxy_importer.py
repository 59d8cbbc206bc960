"""The checks Galaxy runs when a collection is uploaded (galaxy-importer, offline configuration),
on the tarball this checkout builds. ansible-test sanity is left out of the importer's run
(it would need a container): ./testbed/test runs it on the same files (testbed/sanity).

galaxy.yml names no repository: the collection has no public one yet, and Galaxy requires
one. The first test shows that this is the only thing Galaxy would refuse; the second runs
every other check on a copy whose galaxy.yml names a placeholder repository."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "tests" / "galaxy-importer.txt"
CONFIG = """[galaxy-importer]
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
OFFLINE_ANSIBLE_LINT = True
RUN_FLAKE8 = False
"""


@pytest.fixture(name="importer", scope="module")
def fixture_importer():
    """A venv with galaxy-importer's pins, made once per requirements file (.cache/galaxy-importer)."""
    venv = REPO / ".cache" / "galaxy-importer"
    stamp = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (venv / "stamp").is_file() or (venv / "stamp").read_text() != stamp:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                        str(REQUIREMENTS)], check=True, capture_output=True, timeout=900)
        (venv / "stamp").write_text(stamp)
    return venv


def galaxy_import(importer, source, tmp_path):
    """Build ``source`` into a tarball and hand it to galaxy-importer; its output."""
    dist = tmp_path / "dist"
    subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--force",
                    "--output-path", str(dist)], cwd=source, check=True, capture_output=True)
    (tmp_path / "importer.cfg").write_text(CONFIG)
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(tmp_path / "importer.cfg"),
               PATH=f"{importer / 'bin'}:{os.environ['PATH']}")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    tarball, = dist.glob("*.tar.gz")
    result = subprocess.run([str(importer / "bin" / "python"), "-m", "galaxy_importer.main", str(tarball)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    return result.stdout + result.stderr


def test_galaxy_would_refuse_only_the_missing_repository(importer, tmp_path):
    output = galaxy_import(importer, REPO, tmp_path)
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert errors == ["ERROR: The import failed for the following reason: Invalid collection metadata. "
                      "'repository' is required"], output[-3000:]


def test_every_other_check_of_galaxy_passes(importer, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".cache", ".venv", ".git", "dist"))
    galaxy = copy / "galaxy.yml"
    galaxy.write_text(galaxy.read_text().replace(
        "\nreadme: README.md\n", "\nreadme: README.md\nrepository: https://example.invalid/unopinionated/jupyterhub\n", 1))
    output = galaxy_import(importer, copy, tmp_path / "import")
    assert "Importer processing completed successfully" in output, output[-3000:]
    assert [line for line in output.splitlines() if line.startswith("ERROR")] == [], output[-3000:]
    # Warnings left: Galaxy's role pattern does not allow _common's leading '_', and the roles'
    # meta/main.yml hold only dependencies (their descriptions are in meta/argument_specs.yml).
    warnings = {line for line in output.splitlines() if line.startswith("WARNING")}
    assert warnings <= {"WARNING: No role description found in role metadata",
                        "WARNING: roles/_common:1: role-name: Role name _common does not match "
                        "``^[a-z][a-z0-9_]*$`` pattern."}, output[-3000:]
