# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The slurm_spawner role's spawner: SlurmSpawner with profiles, a safe user name, dead jobs noticed.

Written by the slurm_spawner role beside the hub's base configuration (on its
sys.path); the fragment 40-slurm-spawner.py imports it and sets its options.
Unit tests: tests/unit/test_slurm_spawner.py.

batchspawner runs its submit and cancel commands with a shell, and the user name is
a word of both (``sudo -n -u {username} sbatch``): a name is served only when it is
one plain word (check_user_name), and the spawn form's values never reach the batch
script (apply_profile takes a profile's name and nothing else).
"""

import asyncio
import html
import re

# Importing batchspawner registers the hub API handler through which a job
# reports its port (batchspawner #126); without it the hub never learns it.
import batchspawner  # noqa: F401  pylint: disable=unused-import
from batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Integer, List

# An account name as sudo, Slurm and a shell take it: lower case (JupyterHub's
# default normalization), digits, "_", ".", "-" and "@" (SSSD's user@domain),
# not beginning with "-" (an option to sudo), up to 64.
SAFE_USER_NAME = re.compile(r"[a-z0-9_][a-z0-9_.@-]{0,63}")


def check_user_name(name):
    """Refuse (HTTP 400, before anything runs) a name that is not one plain word."""
    if not SAFE_USER_NAME.fullmatch(name):
        raise web.HTTPError(
            400, "The user name %r cannot have a server on this hub: it must be an account name of "
                 "lower-case letters, digits, '_', '.', '-' and '@' (up to 64, not beginning with '-')",
            name)


class SiteSlurmSpawner(SlurmSpawner):
    """SlurmSpawner with profiles and a start that notices dead jobs.

    batchspawner 1.3.0 waits the whole start_timeout when a job dies after it
    started running but before its server reported a port (batchspawner #253);
    here a job that leaves the queue fails the spawn within job_check_interval.
    """

    profiles = List(config=True, help="The site's resource profiles (slurm_spawner_profiles).")
    job_check_interval = Integer(5, config=True, help="Seconds between looks at a starting job.")

    async def start(self):
        check_user_name(self.user.name)
        starting = asyncio.ensure_future(super().start())
        try:
            while True:
                done, _pending = await asyncio.wait({starting}, timeout=self.job_check_interval)
                if starting in done:
                    return starting.result()
                if self.job_id and not self.port:
                    status = await self.query_job_status()
                    if status not in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
                        raise RuntimeError(
                            f"Slurm job {self.job_id} ended before the notebook server started"
                            f" (squeue: {self.job_status.strip() or 'job gone'}). Check the job's log"
                            " on the compute node and the site's Slurm accounting."
                        )
        finally:
            if not starting.done():
                starting.cancel()


def apply_profile(spawner, user_options):
    """Accept only {"profile": <a configured name>}: user input never reaches the batch script."""
    profiles = spawner.profiles
    if not profiles:
        if user_options:
            raise web.HTTPError(400, "This hub offers no resource profiles")
        return
    unknown_keys = set(user_options) - {"profile"}
    if unknown_keys:
        raise web.HTTPError(400, "Unknown options: %s", ", ".join(sorted(map(repr, unknown_keys))))
    name = user_options.get("profile", profiles[0]["name"])
    if isinstance(name, list) and len(name) == 1:
        name = name[0]
    profile = next((p for p in profiles if p["name"] == name), None)
    if profile is None:
        raise web.HTTPError(400, "Unknown profile %r; choose one of: %s", name,
                            ", ".join(p["name"] for p in profiles))
    for key, trait in (("partition", "req_partition"), ("cpus", "req_nprocs"), ("memory", "req_memory"),
                       ("gres", "req_gres"), ("runtime", "req_runtime"), ("prologue", "req_prologue")):
        if profile.get(key) not in (None, ""):
            setattr(spawner, trait, str(profile[key]))
    spawner.user_options = {"profile": profile["name"]}


def profile_form(spawner):
    if not spawner.profiles:
        return ""
    options = "\n".join(
        '<option value="%s">%s</option>' % (html.escape(p["name"]), html.escape(p.get("display_name") or p["name"]))
        for p in spawner.profiles
    )
    return f'<label for="profile">Resources</label>\n<select class="form-control" name="profile" id="profile">\n{options}\n</select>'


def options_from_form(formdata):
    return {"profile": formdata.get("profile", [""])[0]}
