#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Make a list of directories and files as a role asks, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Make directories and files, each with its owner, group and mode, in one module run
description:
  - The roles' one call for the directories and files a step of theirs needs, in the order given.
    What is already as asked costs no write, and a converged host costs one module run for the whole
    list (each C(file), C(template) or C(copy) task is one run, about 0.17 s on a container host).
  - Nothing is followed through a link. Where a file goes, a link (or any other non-regular file) is
    replaced by the file, renamed over it, never written through. Where a directory goes, a link or a
    file stops the run, naming the path, and nothing is changed there. Owner and mode are set on an
    open descriptor (C(O_NOFOLLOW)).
  - A file is written into a new file in its directory, given its owner, group and mode, validated
    there when O(entries[].validate) says how, then renamed over the old one. A reader never sees half a
    file, and a file that fails validation changes nothing.
  - Entries are made in order; the run stops at the first one that fails, naming it, and reports which
    paths it had changed before (RV(changed_paths)).
version_added: 0.4.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  entries:
    description: The directories and files, in the order they are made.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The absolute path on the host.
        type: path
        required: true
      state:
        description:
          - V(directory) makes the directory (and missing parents, root's, 0755); V(file) writes
            O(entries[].content); V(attributes) sets only the owner, group and mode of an existing
            regular file (one made by an earlier task) and fails when there is none; V(absent) removes
            what is there (a file, a link itself, or a directory tree, whose links are removed, not followed).
        type: str
        choices: [directory, file, attributes, absent]
        default: file
      content:
        description:
          - The file's content (V(file)), shown in diff mode. Secrets are written by a task of their own with
            C(no_log), which hides the whole result, diff and arguments.
        type: str
        default: ""
      owner:
        description: The owner (a name or a number); left as it is when not given.
        type: str
      group:
        description: The group (a name or a number); left as it is when not given.
        type: str
      mode:
        description:
          - Octal, as a string (V("0640"), V("2770")). When not given, a directory keeps its mode (a new one
            is 0700) and a file keeps its mode (a new one is 0644).
        type: raw
      validate:
        description:
          - A command run on the new file before it replaces the old one, C(%s) standing for its path, as
            C(ansible.builtin.copy) runs it. A non-zero exit stops the run, with the command's output.
        type: str
      keep_existing:
        description: A directory that exists keeps its owner, group and mode (a site's, say); only a missing one is made.
        type: bool
        default: false
notes:
  - Check mode reports what would change (and diff mode shows it) and changes nothing.
"""

EXAMPLES = r"""
- name: Make traefik's directories and configuration
  unopinionated.jupyterhub.files:
    entries:
      - {path: /opt/jupyterhub/proxy, state: directory, owner: root, group: root, mode: "0755"}
      - path: /opt/jupyterhub/proxy/traefik.toml
        content: "{{ lookup('unopinionated.jupyterhub.template', 'traefik.toml.j2') }}"
        owner: root
        group: www-data
        mode: "0640"
        validate: /usr/bin/python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' %s
  notify: Restart jupyterhub-proxy
"""

RETURN = r"""
changed_paths:
  description:
    - The paths that were not as asked (in check mode, that would change), each with why (V(missing),
      V(content), V(mode), V(owner), V(group), V(not a regular file), V(present) for one removed).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import host_files


def make(module, entry):
    want = {key: entry.get(key) for key in ("owner", "group", "mode")}
    if entry["state"] == "absent":
        host_files.remove(entry["path"])
    elif entry["state"] == "directory":
        host_files.make_directory(entry["path"], want)
    elif entry["state"] == "attributes":
        host_files.settle_file(entry["path"], want)
    else:
        host_files.write_file(entry["path"], entry["content"].encode(), want,
                              validate=(lambda path: validate(module, entry, path)) if entry["validate"] else None)


def validate(module, entry, path):
    command = entry["validate"]
    if "%s" not in command:
        raise host_files.Refused("validate must name the file as %%s: %s" % command)
    rc, out, err = module.run_command(command % path)
    if rc != 0:
        raise host_files.Refused("validation failed (%s): %s" % (command, (err or out).strip()[-2000:]))


def diff(entry, why):
    header = "%s (%s)" % (entry["path"], why)
    if entry["state"] != "file" or why not in ("missing", "content"):
        return {"before_header": header, "after_header": header, "before": "", "after": ""}
    before = host_files.read(entry["path"])
    return {"before_header": entry["path"], "after_header": entry["path"],
            "before": before.decode("utf-8", "replace") if before is not None else "", "after": entry["content"]}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            entries=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="path", required=True),
                state=dict(type="str", choices=["directory", "file", "attributes", "absent"], default="file"),
                content=dict(type="str", default=""),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="raw"),
                validate=dict(type="str"),
                keep_existing=dict(type="bool", default=False),
            )),
        ),
        supports_check_mode=True,
    )
    changed, diffs = {}, []
    for entry in module.params["entries"]:
        try:
            why = host_files.entry_differs(entry, module.check_mode)
            if why is None:
                continue
            if not module.check_mode:
                make(module, entry)
        except (host_files.Refused, KeyError, ValueError, OSError) as error:
            module.fail_json(msg="%s: %s" % (entry["path"], error.args[0] if isinstance(error, KeyError) else error),
                             changed=bool(changed), changed_paths=changed)
        changed[entry["path"]] = why
        if module._diff:
            diffs.append(diff(entry, why))
    result = dict(changed=bool(changed), changed_paths=changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
