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
certificate, which JupyterHub makes for the user at every spawn, and its API token
inside its batch script (job_secrets_setup), and the job writes them into a directory
of its own (mktemp, 0700) on the compute node, removed when the job ends. Slurm 22.05
sends a job's script and environment from slurmctld to slurmd in clear (MUNGE signs
its messages, it does not encrypt them: the slurm scenario's capture saw the token
there), so the key and the token go in sealed: a MUNGE credential (AES-encrypted with
the cluster's MUNGE key) that only the user's uid (or root) can decode, once, within
its time to live; the token is kept out of the job's environment. Nothing else a user
controls reaches that text; the certificates are checked to be PEM and the sealed
values to be MUNGE credentials before they go in.
"""

import asyncio
import html
import pwd
import re

# Importing batchspawner registers the hub API handler through which a job
# reports its port (batchspawner #126); without it the hub never learns it.
import batchspawner  # noqa: F401  pylint: disable=unused-import
from batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Integer, List, Unicode

# An account name as sudo, Slurm and a shell take it: lower case (JupyterHub's
# default normalization), digits, "_", ".", "-" and "@" (SSSD's user@domain),
# not beginning with "-" (an option to sudo), up to 64.
SAFE_USER_NAME = re.compile(r"[a-z0-9_][a-z0-9_.@-]{0,63}")


# What JupyterHub's certipy writes: PEM blocks, nothing else (no quote, no "$", no
# backtick, no line that could end the here-document that carries it).
_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{1,40}-----\n(?:[A-Za-z0-9+/=]{1,76}\n)+-----END [A-Z0-9 ]{1,40}-----\n?)+"
)
# A MUNGE credential as `munge` prints it (base64 between "MUNGE:" and ":").
_MUNGE_CREDENTIAL = re.compile(r"MUNGE:[A-Za-z0-9+/=]{1,65536}:")
# The batch script's names for the files, in the job's own directory.
TLS_FILES = {"keyfile": "server.key", "certfile": "server.crt", "cafile": "ca.crt"}
_TLS_ENV = {"keyfile": "JUPYTERHUB_SSL_KEYFILE", "certfile": "JUPYTERHUB_SSL_CERTFILE",
            "cafile": "JUPYTERHUB_SSL_CLIENT_CA"}
# What the job decodes (unmunge) rather than reads: the key, and the API token.
SEALED = ("keyfile", "token")
_TOKEN_ENV = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")


def _here_document(command, text):
    return ["%s <<'UJH_EOF'" % command, text.rstrip("\n"), "UJH_EOF"]


def job_secrets_setup(pems, sealed):
    """Shell lines for the start of a batch script: write the server's files into a new
    private directory, decode the sealed key and token there, and point JupyterHub's
    variables at them.

    ``pems`` maps certfile and cafile to PEM text, ``sealed`` maps keyfile and token to
    MUNGE credentials (seal). Anything else is refused (ValueError) rather than put into
    a script that a shell runs.
    """
    lines = ['ujh_tls_dir="$(mktemp -d "${TMPDIR:-/tmp}/jupyterhub-tls.XXXXXXXX")"',
             "trap 'rm -rf \"$ujh_tls_dir\"' EXIT",
             'ujh_umask="$(umask)"', "umask 077"]
    for kind in ("certfile", "cafile"):
        text = pems.get(kind)
        if not isinstance(text, str) or not _PEM.fullmatch(text):
            raise ValueError("The %s for the job is not a PEM file: it is not written into a batch script" % kind)
        lines += _here_document('cat > "$ujh_tls_dir/%s"' % TLS_FILES[kind], text)
    for kind in SEALED:
        credential = sealed.get(kind)
        if not isinstance(credential, str) or not _MUNGE_CREDENTIAL.fullmatch(credential):
            raise ValueError("The sealed %s for the job is not a MUNGE credential: it is not written into a batch "
                             "script" % kind)
        lines += _here_document('unmunge --metadata=/dev/null --output="$ujh_tls_dir/%s"'
                                % TLS_FILES.get(kind, kind), credential)
    lines += ['export %s="$ujh_tls_dir/%s"' % (_TLS_ENV[kind], name) for kind, name in TLS_FILES.items()]
    lines += ['JUPYTERHUB_API_TOKEN="$(cat "$ujh_tls_dir/token")"', 'rm -f "$ujh_tls_dir/token"',
              'export JUPYTERHUB_API_TOKEN JPY_API_TOKEN="$JUPYTERHUB_API_TOKEN"', 'umask "$ujh_umask"']
    return "\n".join(lines) + "\n"


async def seal(data, uid, ttl, command=("munge",)):
    """``data`` (bytes) as a MUNGE credential that only ``uid`` (and root) can decode, once,
    within ``ttl`` seconds: encrypted with the cluster's MUNGE key. No shell runs."""
    process = await asyncio.create_subprocess_exec(
        *command, "--restrict-uid=%d" % int(uid), "--ttl=%d" % int(ttl),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate(data)
    if process.returncode != 0:
        raise RuntimeError("munge could not seal the job's secrets (exit %d): %s"
                           % (process.returncode, err.decode(errors="replace").strip()))
    credential = out.decode("ascii", errors="replace").strip()
    if not _MUNGE_CREDENTIAL.fullmatch(credential):
        raise ValueError("munge printed something that is not a MUNGE credential: it is not written into a batch script")
    return credential


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
    munge_command = List(Unicode(), ["munge"], config=True,
                         help="The command that seals the job's key and token (MUNGE's munge).")

    async def create_certs(self):
        # JupyterHub names the certificate's files after the user (user-NAME): an
        # unsafe name is refused before anything is written.
        check_user_name(self.user.name)
        return await super().create_certs()

    async def move_certs(self, paths):
        """The job gets the files in its batch script (job_secrets_setup), not from the hub's disk."""
        pems = {}
        for kind in TLS_FILES:  # anything but PEM is refused here, before a job is submitted
            with open(paths[kind], encoding="ascii") as f:
                pems[kind] = f.read()
            if not _PEM.fullmatch(pems[kind]):
                raise ValueError("The %s JupyterHub made for the job is not a PEM file" % kind)
        self._tls_pems = pems
        # The batch script sets the real paths (a directory mktemp makes on the node).
        return {kind: "$ujh_tls_dir/" + name for kind, name in TLS_FILES.items()}

    def get_env(self):
        env = super().get_env()
        if self._tls_pems:
            # The job decodes its token from its batch script: never in clear on the wire. The
            # names stay, empty: they are the job's exported variables (keepvars), which srun
            # passes on to the server with the values the script gives them.
            for name in _TOKEN_ENV:
                env[name] = ""
        return env

    async def _get_batch_script(self, **subvars):
        if self._tls_pems:
            uid = pwd.getpwnam(self.user.name).pw_uid  # the cluster's uid: the directory's, through NSS
            ttl = min(max(int(self.start_timeout), 60), 3600)  # munged's longest by default: 3600 s
            sealed = {"keyfile": await seal(self._tls_pems["keyfile"].encode(), uid, ttl, self.munge_command),
                      "token": await seal(self.api_token.encode(), uid, ttl, self.munge_command)}
            setup = job_secrets_setup(self._tls_pems, sealed)
            subvars["prologue"] = setup + (subvars.get("prologue") or "")
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
