#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Try a JupyterHub configuration before it replaces the running one; put the previous one back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hub_lifecycle
short_description: Try a new JupyterHub configuration before it is written, and restore the previous one
description:
  - Used by the C(hub) role before it writes the hub's configuration, and when a restarted hub does not
    become healthy.
  - With O(state=tried), compares O(entries) (content, owner, group and mode) and O(remove) with the
    host, and returns the paths that differ, so that the role writes only those. When anything differs, it copies
    the base configuration and every C(config.d) fragment, with O(entries) applied, into a private
    directory and loads it with the hub environment's Python as the hub's user, the way JupyterHub
    loads it (C(JupyterHub.load_config_file), traits of the JupyterHub application validated, the
    configured spawner, authenticator and proxy classes imported and their configured traits
    validated). A configuration that fails names the file and line, and nothing on the host changes.
    When it loads, the current content, owner and mode of every path in O(entries) and O(remove) is
    saved in O(backup) (root only) before the role writes anything.
  - With O(state=restored), puts every path saved in O(backup) back as it was (files that did not
    exist are removed).
  - With O(state=probed), connects to traefik on 127.0.0.1:O(port) with the host of O(url) as the TLS
    server name, checks that the certificate served is O(certificate), and that O(url)'s path answers
    HTTP 200, retrying for O(timeout) seconds.
  - Fragments are executed by the trial, as the hub executes them at every start. Files beside the base
    configuration that it reads (C(database.json), the collection's C(*.py) modules) are copied beside its
    copy, from O(entries) or, when a run leaves them out (C(--tags)), from the host.
  - A database that is not sqlite is connected to (C(SELECT 1)) with the configuration's C(db_url) and
    C(db_kwargs); an error names the URL without its password.
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  state:
    description:
      - V(tried) tries the configuration and saves the backup; V(restored) puts the backup back;
        V(probed) checks the hub end to end through traefik.
    type: str
    choices: [tried, restored, probed]
    default: tried
  base_config:
    description: The hub's base configuration file; its fragments are the C(*.py) files in C(config.d) beside it.
    type: path
    required: true
  entries:
    description:
      - Every file this run writes, as the hub role's C(contribute) entry point takes them. Paths under the
        base configuration's C(config.d) ending in C(.py) are part of the configuration that is tried.
    type: list
    elements: dict
    default: []
    suboptions: &entry_suboptions
      path:
        description: The file's absolute path on the host.
        type: str
        required: true
      content:
        description: The file's content; hidden from Ansible's output (fragments may hold secrets).
        type: str
        default: ""
      kind:
        description: C(fragment), C(config), C(unit), C(manifest), C(dropin) or C(file); its O(defaults) apply.
        type: str
      owner:
        description: The file's owner (else its kind's default).
        type: str
      group:
        description: The file's group (else its kind's default).
        type: str
      mode:
        description: The file's mode, octal (else its kind's default).
        type: raw
      validate:
        description: The command the role's C(copy) validates the file with (not used here).
        type: str
      secret:
        description: The role hides the file's content when it writes it (not used here).
        type: bool
        default: false
  defaults:
    description:
      - The owner, group and mode of each C(kind) of entry, for entries that set none.
      - A mode that is not octal (C(u=rw)) always counts as different.
    type: dict
    default: {}
  quiet:
    description:
      - Files the hub reads as it runs (the announcement), compared as O(entries) are but never tried nor
        backed up; their differences are RV(quiet_paths), not a change of this task (nothing restarts).
      - Each takes the suboptions of O(entries); V(validate) and V(secret) are not used.
    type: list
    elements: dict
    default: []
    suboptions: *entry_suboptions
  remove:
    description: Files this run removes; fragments among them are left out of the trial.
    type: list
    elements: path
    default: []
  python:
    description: The Python of the hub environment (imports C(jupyterhub)).
    type: path
  user:
    description: The user the hub runs as; the trial runs as this user.
    type: str
    default: root
  environment:
    description: The hub's environment variables (C(hub_environment)); hidden from output.
    type: dict
    default: {}
  env_file:
    description: A C(NAME=VALUE) file the hub unit reads (the crypt key); its variables are set for the trial.
    type: path
  backup:
    description: Where the previous configuration is saved (mode 0600, root).
    type: path
    required: true
  url:
    description: The hub's public URL of C(/hub/health) (O(state=probed)).
    type: str
  port:
    description: traefik's HTTPS port on the host (O(state=probed)).
    type: int
    default: 443
  certificate:
    description: The PEM certificate traefik must serve for the host of O(url) (O(state=probed)).
    type: path
  timeout:
    description: Seconds O(state=probed) keeps trying.
    type: int
    default: 120
notes:
  - Check mode tries the configuration and reports what would change; it saves no backup.
"""

EXAMPLES = r"""
- name: Try the new configuration before writing it
  unopinionated.jupyterhub.hub_lifecycle:
    base_config: /opt/jupyterhub/jupyterhub_config.py
    python: /opt/jupyterhub/env/bin/python
    user: jupyterhub
    entries:
      - kind: fragment
        path: /opt/jupyterhub/config.d/10-auth.py
        content: |
          c.JupyterHub.authenticator_class = "dummy"
    defaults:
      fragment: {owner: root, group: jupyterhub, mode: "0640"}
    backup: /opt/jupyterhub/previous-config.json

- name: Put the previous configuration back
  unopinionated.jupyterhub.hub_lifecycle:
    state: restored
    base_config: /opt/jupyterhub/jupyterhub_config.py
    backup: /opt/jupyterhub/previous-config.json
"""

RETURN = r"""
changed_paths:
  description:
    - The paths of O(entries) that are not on the host as the entry asks (their content, owner, group or
      mode differs, or they are missing or not a regular file), and the paths of O(remove) that exist,
      each with why (V(content), V(mode), V(owner), V(group), V(missing), V(not a regular file),
      V(removed)).
  returned: O(state=tried)
  type: dict
quiet_paths:
  description: The paths of O(quiet) that are not on the host as the entry asks, each with why (as RV(changed_paths)).
  returned: O(state=tried)
  type: dict
attributes:
  description:
    - For each path of O(entries) in RV(changed_paths) and of O(quiet) in RV(quiet_paths), the owner, group and mode to write it with,
      the entry's own, else its kind's in O(defaults) (null where neither says).
  returned: O(state=tried)
  type: dict
restored_paths:
  description: Paths that were put back (or removed, when they did not exist before).
  returned: O(state=restored)
  type: list
  elements: str
health_url:
  description:
    - Where the hub of the configuration now in place answers C(/hub/health) (from C(hub_bind_url) and
      C(bind_url)'s path in O(base_config)), so that the wait after a roll back asks the hub that was put
      back, not the URL of the configuration that failed (https when it sets C(internal_ssl)). Null in
      check mode or when O(base_config) does not set both.
  returned: O(state=restored)
  type: str
certificate_sha256:
  description: SHA-256 of the certificate traefik served.
  returned: O(state=probed)
  type: str
warnings_from_trial:
  description: Configuration options the configured classes do not know (typos), as C(Class.option).
  returned: when the configuration was tried
  type: list
  elements: str
"""

import base64
import glob
import inspect
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import host_files, hub_health, hub_trial

# The trial runs in the hub environment's Python, as the hub's user, in the staged copy:
# this module sends it hub_trial.py's source (shipped with the module by AnsiballZ).
TRIAL = inspect.getsource(hub_trial)


def read(path):
    if os.path.isdir(path):
        return None
    return host_files.read(path)


differs = host_files.differs


attributes = host_files.attributes


def compare(entries, remove, defaults):
    """What differs on the host ({path: why}: entries, and the paths of remove that exist), and
    the owner, group and mode each differing entry must be written with: the one place they
    are resolved, so that what is written is what was compared."""
    changed = {path: "removed" for path in remove if os.path.lexists(path)}
    written = {}
    for entry in entries:
        wanted = attributes(entry, defaults)
        why = differs(entry["path"], entry["content"].encode(), wanted)
        if why:
            changed[entry["path"]] = why
            written[entry["path"]] = wanted
    return changed, written


def save_backup(module, paths, backup):
    saved = {}
    for path in paths:
        if os.path.isdir(path):  # a directory a role no longer asks for: not put back
            continue
        content = read(path)
        if content is None:
            saved[path] = None
        else:
            status = os.stat(path)
            saved[path] = {
                "content": base64.b64encode(content).decode(),
                "mode": status.st_mode & 0o7777,
                "uid": status.st_uid,
                "gid": status.st_gid,
            }
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(backup), prefix=".previous-")
    with os.fdopen(fd, "w") as f:
        json.dump({"files": saved}, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, backup)


CONFIG_URL = re.compile(r"^c\.JupyterHub\.(bind_url|hub_bind_url) = (\"[^\n]*\")$", re.M)
CONFIG_INTERNAL_SSL = re.compile(r"^c\.JupyterHub\.internal_ssl = True$", re.M)


def health_url(base_config):
    """Where the hub a base configuration describes answers /hub/health (the rule the role's
    __hub_health_url uses too: module_utils/hub_health.py), or None when the text does not say."""
    urls = {name: json.loads(value) for name, value in CONFIG_URL.findall(base_config)}
    if set(urls) != {"bind_url", "hub_bind_url"}:
        return None
    return hub_health.health_url(urls["hub_bind_url"], urls["bind_url"],
                                 CONFIG_INTERNAL_SSL.search(base_config) is not None)


def restore(module, backup):
    try:
        with open(backup) as f:
            saved = json.load(f)["files"]
    except FileNotFoundError:
        module.fail_json(msg="No previous configuration was saved (%s): nothing to put back." % backup)
    changed = []
    for path, entry in sorted(saved.items()):
        if entry is None:
            if os.path.lexists(path):
                changed.append(path)
                if not module.check_mode:
                    os.unlink(path)
            continue
        content = base64.b64decode(entry["content"])
        status = os.stat(path) if os.path.exists(path) else None
        if (read(path) == content and status and status.st_mode & 0o7777 == entry["mode"]
                and (status.st_uid, status.st_gid) == (entry["uid"], entry["gid"])):
            continue
        changed.append(path)
        if module.check_mode:
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".restore-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chown(tmp, entry["uid"], entry["gid"])
        os.chmod(tmp, entry["mode"])
        os.replace(tmp, path)
    # The health URL of the configuration now in place, for the wait that follows (the new
    # configuration's URL may be one that no hub answers).
    url = None if module.check_mode else health_url((read(module.params["base_config"]) or b"").decode())
    module.exit_json(changed=bool(changed), restored_paths=changed, health_url=url)


def trial(module, staged_files):
    p = module.params
    base_dir = os.path.dirname(p["base_config"])
    account = pwd.getpwnam(p["user"])
    staged = tempfile.mkdtemp(prefix="hub-config-trial-")
    try:
        os.mkdir(os.path.join(staged, "config.d"), 0o700)
        sources = {p["base_config"]: os.path.join(staged, "jupyterhub_config.py")}
        for path in glob.glob(os.path.join(base_dir, "config.d", "*.py")):
            sources[path] = os.path.join(staged, "config.d", os.path.basename(path))
        # What the configuration reads from beside itself, as it is on the host (a run with
        # --tags that leaves them out of files): the collection's modules, database.json.
        for path in glob.glob(os.path.join(base_dir, "*.py")) + [os.path.join(base_dir, "database.json")]:
            if path != p["base_config"] and os.path.isfile(path) and not os.path.islink(path):
                sources[path] = os.path.join(staged, os.path.basename(path))
        for path in p["remove"]:
            sources.pop(path, None)
        for path, content in staged_files.items():
            if os.path.dirname(path) == os.path.join(base_dir, "config.d") and path.endswith(".py"):
                sources[path] = os.path.join(staged, "config.d", os.path.basename(path))
            elif os.path.dirname(path) == base_dir and path != p["base_config"]:
                # Read by the configuration from beside itself (database.json).
                sources[path] = os.path.join(staged, os.path.basename(path))
            elif path.endswith(".html"):
                # A page template of this run: compiled by the trial before the host's copy.
                sources[path] = os.path.join(staged, "templates", path.lstrip("/"))
        for path, target in sources.items():
            content = staged_files.get(path)
            if content is None:
                content = read(path)
            if content is None:
                continue
            if not os.path.isdir(os.path.dirname(target)):
                os.makedirs(os.path.dirname(target), 0o700)
            with open(target, "wb") as f:
                f.write(content)
        for directory, _dirs, names in os.walk(staged):
            os.chown(directory, account.pw_uid, account.pw_gid)
            for entry in names:
                os.chown(os.path.join(directory, entry), account.pw_uid, account.pw_gid)

        env = {
            "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % os.path.dirname(p["python"]),
            "PGCONNECT_TIMEOUT": "20",  # libpq (hub_db_url): an unreachable server fails within 20 s
            "HOME": account.pw_dir,
            "USER": account.pw_name,
            "LANG": "C.UTF-8",
        }
        if p["env_file"] and os.path.exists(p["env_file"]):
            with open(p["env_file"]) as f:
                for line in f:
                    key, sep, value = line.strip().partition("=")
                    if sep and not key.startswith("#"):
                        env[key] = value
        env.update({str(k): str(v) for k, v in p["environment"].items()})

        def drop_privileges():
            os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

        result = subprocess.run(
            [p["python"], "-c", TRIAL, staged], cwd=staged, env=env, capture_output=True, text=True,
            preexec_fn=drop_privileges if account.pw_uid != os.getuid() else None, timeout=300, check=False,
        )
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        module.fail_json(msg="The new hub configuration could not be tried: %s"
                         % (errors[-1] if errors else "exit status %d" % result.returncode))
    outcome = json.loads(lines[-1])
    error = outcome.get("error")
    if error:
        where = error.get("where") or error["file"] or "a config fragment"
        if error["file"] and error["file"].startswith("config.d/"):
            where = "fragment %s" % os.path.join(base_dir, error["file"])
        elif error["file"] and error["file"].endswith(".html"):
            where = "page template %s" % error["file"]
        elif error["file"]:
            where = "the base configuration %s" % p["base_config"]
        module.fail_json(
            msg="The new hub configuration does not load, so nothing was changed and the running hub "
                "keeps its configuration. %s%s: %s"
                % (where, ", line %s" % error["line"] if error["line"] else "", error["message"]),
            failed_file=error["file"], failed_line=error["line"])
    return outcome.get("unknown", [])


def probe(module):
    p = module.params
    deadline = time.monotonic() + p["timeout"]
    while True:
        problem, served, status = hub_health.probe(p["url"], p["port"], p["certificate"])
        if problem is None:
            module.exit_json(changed=False, certificate_sha256=served, status=status)
        if time.monotonic() > deadline:
            module.fail_json(msg="The hub is not reachable as users reach it (%s): %s" % (p["url"], problem))
        time.sleep(1)


# The suboptions of entries and quiet (DOCUMENTATION: entry_suboptions).
ENTRY_OPTIONS = dict(
    path=dict(type="str", required=True),
    content=dict(type="str", default="", no_log=True),
    kind=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw"),
    validate=dict(type="str"),
    secret=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["tried", "restored", "probed"], default="tried"),
            base_config=dict(type="path", required=True),
            entries=dict(type="list", elements="dict", default=[], options=ENTRY_OPTIONS),
            quiet=dict(type="list", elements="dict", default=[], options=ENTRY_OPTIONS),
            defaults=dict(type="dict", default={}),
            remove=dict(type="list", elements="path", default=[]),
            python=dict(type="path"),
            user=dict(type="str", default="root"),
            environment=dict(type="dict", default={}, no_log=True),
            env_file=dict(type="path"),
            backup=dict(type="path", required=True),
            url=dict(type="str"),
            port=dict(type="int", default=443),
            certificate=dict(type="path"),
            timeout=dict(type="int", default=120),
        ),
        required_if=[("state", "tried", ("python",)), ("state", "probed", ("url",))],
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "restored":
        restore(module, p["backup"])
    if p["state"] == "probed":
        probe(module)

    entries = p["entries"]
    staged_files = {entry["path"]: entry["content"].encode() for entry in entries}
    changed_paths, written = compare(entries, p["remove"], p["defaults"])
    quiet_paths, quiet_written = compare(p["quiet"], [], p["defaults"])

    unknown = []
    if changed_paths and module.check_mode and not os.path.exists(p["python"]):
        module.warn("Not tried: the hub environment is not installed yet (check mode on a new host).")
    elif changed_paths:
        unknown = trial(module, staged_files)
        if not module.check_mode:
            save_backup(module, sorted(set(staged_files) | set(p["remove"])), p["backup"])
    for option in unknown:
        module.warn("The hub's configuration sets %s, which its class does not know (a typo?)." % option)
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, quiet_paths=quiet_paths,
                     attributes=dict(written, **quiet_written), warnings_from_trial=unknown)


if __name__ == "__main__":
    main()
