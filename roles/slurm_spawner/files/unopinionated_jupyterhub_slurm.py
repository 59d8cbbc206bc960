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

With the hub's internal_ssl (hub_internal_ssl), each job gets its server's key and
certificate, which JupyterHub makes for the user at every spawn, inside its batch
script (tls_setup): slurmctld keeps a job's script where only its owner, SlurmUser
and root read it, and the job writes the files into a directory of its own (mktemp,
0700) on the compute node, removed when the job ends. Nothing else a user controls
reaches that text, and the text is checked to be PEM before it goes in.
"""

import asyncio
import html
import logging
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


# What JupyterHub's certipy writes: PEM blocks, nothing else (no quote, no "$", no
# backtick, no line that could end the here-document that carries it).
_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{1,40}-----\n(?:[A-Za-z0-9+/=]{1,76}\n)+-----END [A-Z0-9 ]{1,40}-----\n?)+"
)
# The batch script's names for the files, in the job's own directory.
TLS_FILES = {"keyfile": "server.key", "certfile": "server.crt", "cafile": "ca.crt"}
_TLS_ENV = {"keyfile": "JUPYTERHUB_SSL_KEYFILE", "certfile": "JUPYTERHUB_SSL_CERTFILE",
            "cafile": "JUPYTERHUB_SSL_CLIENT_CA"}
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def tls_setup(pems):
    """Shell lines for the start of a batch script: write the server's PEM files into a
    new private directory and point JupyterHub's variables at them.

    ``pems`` maps keyfile, certfile and cafile to PEM text. Anything that is not PEM is
    refused (ValueError) rather than put into a script that a shell runs.
    """
    lines = ['ujh_tls_dir="$(mktemp -d "${TMPDIR:-/tmp}/jupyterhub-tls.XXXXXXXX")"',
             "trap 'rm -rf \"$ujh_tls_dir\"' EXIT",
             'ujh_umask="$(umask)"', "umask 077"]
    for kind, name in TLS_FILES.items():
        text = pems[kind]
        if not isinstance(text, str) or not _PEM.fullmatch(text):
            raise ValueError("The %s for the job is not a PEM file: it is not written into a batch script" % kind)
        lines += ['cat > "$ujh_tls_dir/%s" <<\'UJH_TLS_EOF\'' % name, text.rstrip("\n"), "UJH_TLS_EOF",
                  'export %s="$ujh_tls_dir/%s"' % (_TLS_ENV[kind], name)]
    lines.append('umask "$ujh_umask"')
    return "\n".join(lines) + "\n"


class WithholdPrivateKeys(logging.Filter):
    """batchspawner logs each batch script at debug level: a private key in it is withheld."""

    def filter(self, record):
        if record.args and any(isinstance(a, str) and "PRIVATE KEY-----" in a for a in record.args):
            record.args = tuple(_PRIVATE_KEY.sub("[private key withheld]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


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

    _tls_pems = None  # the server's key, certificate and CA (PEM) for this spawn's batch script

    async def create_certs(self):
        # JupyterHub names the certificate's files after the user (user-NAME): an
        # unsafe name is refused before anything is written.
        check_user_name(self.user.name)
        return await super().create_certs()

    async def move_certs(self, paths):
        """The job gets the files in its batch script (tls_setup), not from the hub's disk."""
        pems = {}
        for kind in TLS_FILES:
            with open(paths[kind], encoding="ascii") as f:
                pems[kind] = f.read()
        tls_setup(pems)  # refuses anything but PEM here, before a job is submitted
        self._tls_pems = pems
        if not any(isinstance(f, WithholdPrivateKeys) for f in self.log.filters):
            self.log.addFilter(WithholdPrivateKeys())
        # The batch script sets the real paths (a directory mktemp makes on the node).
        return {kind: "$ujh_tls_dir/" + name for kind, name in TLS_FILES.items()}

    async def _get_batch_script(self, **subvars):
        if self._tls_pems:
            subvars["prologue"] = tls_setup(self._tls_pems) + (subvars.get("prologue") or "")
        return await super()._get_batch_script(**subvars)

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
