# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The slurm_spawner role's spawner: SlurmSpawner with profiles, a safe user name, dead jobs noticed.

Written by the slurm_spawner role beside the hub's base configuration (on its
sys.path); the fragment 40-slurm-spawner.py imports it and sets its options.
Unit tests: tests/unit/test_slurm_spawner.py.

batchspawner runs its submit and cancel commands with a shell, and the user name is
a word of both (``sudo -n -u {username} sbatch``): a name is served only when it is
one plain word (check_user_name). The spawn form (unopinionated_jupyterhub_slurm_form.py)
checks every value against the site's lists and Slurm's before anything is submitted;
what reaches the batch script is a listed name or a time that module wrote.

While a job waits, the spawn's progress page shows its state, Slurm's pending reason and
its id; a job whose reason means it can never start (a limit the job alone exceeds, an
account or QoS Slurm refuses) is cancelled and fails the spawn with that reason. Once it
runs, the hub's home page shows when Slurm will end it.

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
import pwd
import re
import shlex
import time

# Importing batchspawner registers the hub API handler through which a job
# reports its port (batchspawner #126); without it the hub never learns it.
import batchspawner  # noqa: F401  pylint: disable=unused-import
from batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Integer, List, Unicode
from unopinionated_jupyterhub_slurm_form import FIELDS, Choices, SlurmFacts, render, user_groups, validate

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

# The job's fields as batch_query_cmd asks squeue for them: '%T|%B|%e|%r'.
_STATUS_FIELDS = ("state", "node", "end", "reason")
_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
_SLURM_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
# Pending reasons after which a job never starts unless an administrator steps in: a
# limit the job alone exceeds (...PerJob..., a minimum), an account, QoS or partition
# Slurm refuses for it, a dependency that cannot be met, its reservation gone.
HOPELESS_REASONS = (r"(?:Assoc|QOS)(?:Max\w*PerJob\w*|Min\w*)|Partition(?:Time|Node)Limit|PartitionConfig"
                    r"|Invalid(?:Account|QOS)|(?:Account|QOS)NotAllowed|BadConstraints|DependencyNeverSatisfied"
                    r"|ReservationDeleted|InvalidReservation")
# Job states in which a job waits for good: its reservation ended or was deleted before it
# started (Slurm holds it, with the reason "Reservation NAME was deleted").
HOPELESS_STATES = ("RESV_DEL_HOLD",)
# What a user reads for the commonest reasons (Slurm's own word is always shown too).
_REASON_TEXT = {
    "Priority": "jobs with a higher priority come first",
    "Resources": "waiting for the resources it asked for to be free",
    "Reservation": "waiting for its reservation to begin",
    "None": "about to be scheduled",
    "BeginTime": "waiting for its start time",
    "QOSJobLimit": "the QoS's limit of jobs is reached",
    "AssocGrpCpuLimit": "the account's CPU limit is reached",
    "ReqNodeNotAvail": "the nodes it needs are not available",
}
# One cache of Slurm's lists per hub process, shared by every user's spawner.
_FACTS = {}


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


# A path the site names for the module system (its init script, module directories).
_MODULE_PATH = re.compile(r"/[A-Za-z0-9_.+/-]{0,4095}")


def module_setup(init, paths=()):
    """Shell lines for a batch script that start the site's module system (Lmod's or
    Environment Modules' init script for sh, e.g. /etc/profile.d/lmod.sh) and add the site's
    module directories, so that the server (jupyterlmod) and its kernels can load modules.

    The server runs under srun, which passes on only batchspawner's --export list
    (SLURM_EXPORT_ENV): the module system's variables (LMOD_CMD, MODULEPATH, ...) would stop
    there, so srun is told to pass the job's whole environment, which is the hub's list plus
    what the script set. A path that is not a plain absolute path is refused (ValueError).
    """
    if not init:
        return ""
    for path in (init, *paths):
        if not isinstance(path, str) or not _MODULE_PATH.fullmatch(path) or "/../" in path + "/":
            raise ValueError("%r is not a plain absolute path: it is not written into a batch script" % (path,))
    lines = ["set +u  # module systems read variables that may be unset", ". %s" % shlex.quote(init)]
    if paths:
        lines.append("module use %s" % " ".join(shlex.quote(p) for p in paths))
    lines += ["set -u", "export SLURM_EXPORT_ENV=ALL"]
    return "\n".join(lines) + "\n"


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
    form_fields = List(Unicode(), config=True,
                       help="What users choose beside a profile: account, qos, partition, reservation, runtime.")
    allowed_qos = List(Unicode(), config=True, help="The QoS the form offers (empty: any of the user's associations).")
    default_account = Unicode("", config=True, help="--account when the user chooses none (empty: Slurm's).")
    default_qos = Unicode("", config=True, help="--qos when the user chooses none (empty: the association's).")
    extra_options = List(Unicode(), config=True, help="The site's further sbatch options, for every job.")
    slurm_bin_dir = Unicode("/usr/bin", config=True, help="Where sacctmgr, scontrol and sinfo are.")
    slurm_cache_seconds = Integer(60, config=True, help="How long the form's lists from Slurm are kept.")
    hopeless_reasons = Unicode(HOPELESS_REASONS, config=True,
                               help="Pending reasons (a regular expression) that fail the spawn at once.")
    job_end = Unicode("", help="When Slurm ends the running job (squeue %e).")
    never_starts = Unicode("", help="Slurm's state and reason when the starting job waits for good.")
    module_init = Unicode("", config=True, help="The module system's init script for sh on the compute nodes.")
    module_paths = List(Unicode(), config=True, help="Module directories the job adds (module use).")

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
        modules = module_setup(self.module_init, self.module_paths)
        if modules:
            subvars["prologue"] = modules + (subvars.get("prologue") or "")
        if self._tls_pems:
            uid = pwd.getpwnam(self.user.name).pw_uid  # the cluster's uid: the directory's, through NSS
            ttl = min(max(int(self.start_timeout), 60), 3600)  # munged's longest by default: 3600 s
            sealed = {"keyfile": await seal(self._tls_pems["keyfile"].encode(), uid, ttl, self.munge_command),
                      "token": await seal(self.api_token.encode(), uid, ttl, self.munge_command)}
            setup = job_secrets_setup(self._tls_pems, sealed)
            subvars["prologue"] = setup + (subvars.get("prologue") or "")
        return await super()._get_batch_script(**subvars)

    def slurm_facts(self):
        key = (self.slurm_bin_dir, self.slurm_cache_seconds)
        if key not in _FACTS:
            _FACTS[key] = SlurmFacts(self.slurm_bin_dir, self.slurm_cache_seconds)
        return _FACTS[key]

    def site_profiles(self):
        return self.profiles or [{"name": "default", "display_name": "Default resources"}]

    async def form_choices(self, fresh=False):
        """What this user may choose now (Slurm's lists from the cache, or fresh ones)."""
        facts, fields, name = self.slurm_facts(), set(self.form_fields), self.user.name
        get = facts.fresh if fresh else facts.get
        kinds = (["associations", "default_accounts"] if {"account", "qos"} & fields else []) + (
            ["reservations"] if "reservation" in fields else []) + (["partitions"] if "partition" in fields else [])
        # Asked together (a first page after a hub start waits for the slowest, not for all in a row).
        lists = dict(zip(kinds, await asyncio.gather(*(get(kind) for kind in kinds))))
        groups = await asyncio.get_running_loop().run_in_executor(None, user_groups, name)
        return Choices(name, groups, self.site_profiles(), fields, lists.get("associations", {}).get(name, []),
                       lists.get("default_accounts", {}).get(name, ""), lists.get("reservations", []),
                       lists.get("partitions", []), self.allowed_qos)

    def status_fields(self):
        values = (self.job_status or "").split("|", len(_STATUS_FIELDS) - 1)
        return dict(zip(_STATUS_FIELDS, values + [""] * (len(_STATUS_FIELDS) - len(values))))

    def state_gethost(self):
        node = self.status_fields()["node"].strip()
        return node if _NODE.fullmatch(node) else ""

    async def query_job_status(self):
        status = await super().query_job_status()
        fields = self.status_fields()
        state, reason = fields["state"].strip(), fields["reason"].strip()
        if status == JobStatus.RUNNING and _SLURM_TIME.fullmatch(fields["end"]):
            self.job_end = fields["end"]  # Slurm's end time moves when an administrator changes the limit
        if (status == JobStatus.PENDING and re.fullmatch(self.hopeless_reasons, reason.split(",")[0])) or (
                state in HOPELESS_STATES):
            # Still in the queue, for good: start() cancels it and fails the spawn with Slurm's words
            # (told as pending meanwhile, so that batchspawner's own loop does not call it gone).
            self.never_starts = "%s, %s" % (state, reason)
            return JobStatus.PENDING
        return status

    def pending_message(self):
        fields = self.status_fields()
        state, reason = fields["state"].strip(), fields["reason"].strip()
        if state in ("PENDING", "CONFIGURING"):
            text = _REASON_TEXT.get(reason.split(",")[0])
            return "Slurm job %s is %s: %s%s" % (
                self.job_id, state.lower(), reason or "no reason given", " (%s)" % text if text else "")
        if state in ("RUNNING", "COMPLETING"):
            return "Slurm job %s is running on %s; waiting for its server to start" % (self.job_id, fields["node"])
        if not self.job_id:
            return "Submitting the job"
        return "Slurm job %s: %s%s" % (self.job_id, state or "submitting", " (%s)" % reason if reason else "")

    async def progress(self):
        last = None
        while True:
            message = self.pending_message()
            if message != last:
                yield {"message": message}
                last = message
            if self.state_isrunning():
                return
            await asyncio.sleep(1)

    def job_end_note(self):
        """A sentence for the home page: when Slurm ends the running job (empty when unknown)."""
        if not self.job_end:
            return ""
        try:
            left = time.mktime(time.strptime(self.job_end, "%Y-%m-%dT%H:%M:%S")) - time.time()
        except ValueError:
            return ""
        hours, minutes = divmod(max(int(left // 60), 0), 60)
        return "Your server runs as Slurm job %s, which Slurm ends at %s (in %d h %02d min): save your work before." % (
            self.job_id, self.job_end.replace("T", " "), hours, minutes)

    def get_state(self):
        state = super().get_state()
        if self.job_end:
            state["job_end"] = self.job_end
        return state

    def load_state(self, state):
        super().load_state(state)
        self.job_end = state.get("job_end", "")

    def clear_state(self):
        super().clear_state()
        self.job_end = ""

    async def start(self):
        check_user_name(self.user.name)
        self.never_starts = ""
        starting = asyncio.ensure_future(super().start())
        try:
            while True:
                done, _pending = await asyncio.wait({starting}, timeout=self.job_check_interval)
                if starting in done:
                    return starting.result()
                if self.job_id and not self.port:
                    status = await self.query_job_status()
                    if self.never_starts:
                        await self.cancel_batch_job()
                        raise RuntimeError(
                            f"Slurm job {self.job_id} can never start ({self.never_starts}). It was cancelled;"
                            " choose other options (account, QoS, time limit, reservation) or ask the site's"
                            " administrators."
                        )
                    if status not in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
                        raise RuntimeError(
                            f"Slurm job {self.job_id} ended before the notebook server started"
                            f" (squeue: {self.job_status.strip() or 'job gone'}). Check the job's log"
                            " on the compute node and the site's Slurm accounting."
                        )
        finally:
            if not starting.done():
                starting.cancel()


# What a spawn sets on the spawner (batchspawner's job settings).
_JOB_TRAITS = ("req_partition", "req_nprocs", "req_memory", "req_gres", "req_runtime", "req_prologue",
               "req_reservation", "req_options")


async def apply_profile(spawner, user_options):
    """Check the user's options against the site's lists and Slurm's, then set the job's settings.

    Nothing the user typed reaches the batch script: a profile's settings are the site's,
    an account, QoS, partition or reservation is the list's entry, a time is reformatted.
    A value the cached lists do not know is looked up once more in Slurm before it is refused.
    """
    if not spawner.profiles and not spawner.form_fields:
        if user_options:
            raise web.HTTPError(400, "This hub offers no resource profiles")
        return
    # The spawner lives on between spawns: each starts from the site's settings, not the last spawn's.
    site = spawner.__dict__.setdefault("_ujh_site_settings", {trait: getattr(spawner, trait) for trait in _JOB_TRAITS})
    for trait, value in site.items():
        setattr(spawner, trait, value)
    runtime = spawner.req_runtime
    try:
        job = validate(await spawner.form_choices(), user_options, runtime)
    except web.HTTPError as e:
        if e.status_code != 400 or not spawner.form_fields:
            raise
        job = validate(await spawner.form_choices(fresh=True), user_options, runtime)
    profile = next(p for p in spawner.site_profiles() if p["name"] == job["profile"])
    for key, trait in (("partition", "req_partition"), ("cpus", "req_nprocs"), ("memory", "req_memory"),
                       ("gres", "req_gres"), ("runtime", "req_runtime"), ("prologue", "req_prologue")):
        if profile.get(key) not in (None, ""):
            setattr(spawner, trait, str(profile[key]))
    for key, trait in (("partition", "req_partition"), ("runtime", "req_runtime"), ("reservation", "req_reservation")):
        if job[key]:
            setattr(spawner, trait, job[key])
    account, qos = job["account"] or spawner.default_account, job["qos"] or spawner.default_qos
    spawner.req_options = " ".join((["--account=" + account] if account else []) + (["--qos=" + qos] if qos else [])
                                   + list(spawner.extra_options))
    spawner.user_options = {key: value for key, value in job.items() if value}


async def profile_form(spawner):
    if not spawner.profiles and not spawner.form_fields:
        return ""
    return render(await spawner.form_choices(), spawner.req_runtime)


def options_from_form(formdata):
    """The form's fields this hub knows, left out when empty; more than one value of a field is
    passed on as a list (which apply_profile refuses)."""
    options = {}
    for key in ("profile", *FIELDS):
        values = formdata.get(key) or []
        if values != [""] and values:
            options[key] = values[0] if len(values) == 1 else values
    return options
