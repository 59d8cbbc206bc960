"""The slurm_spawner role's spawn form (roles/slurm_spawner/files/unopinionated_jupyterhub_slurm_form.py)
and what the spawner does with it.

Slurm's answers here are stand-ins printing what Slurm 22.05 prints (sacctmgr, scontrol and sinfo
as the slurm scenario's cluster answered them); the slurm scenario runs the real commands against
slurmdbd and MariaDB. Every value a user sends is attacked here: nothing unlisted reaches a job.
"""

import asyncio
import time
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES
from jupyterhub.objects import Hub
from tornado import web

import unopinionated_jupyterhub_slurm as slurm
from unopinionated_jupyterhub_slurm import SiteSlurmSpawner, apply_profile, options_from_form, profile_form
from unopinionated_jupyterhub_slurm_form import (
    Choices, SlurmFacts, format_time, parse_associations, parse_default_accounts, parse_reservations, parse_time,
    render, reservation_admits, validate,
)

ASSOCIATIONS = """\
|root||normal
root|root||normal
|physics||normal
alice|physics||normal,scavenger,short
alice|course101|debug|normal
carol|chemistry||long,normal
mallory|bad account||normal
mallory|$(id)||normal
"""
USERS = "alice|physics\ncarol|chemistry\nroot|root\nmallory|$(id)\n"
LATER = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 7 * 86400))
LATER_END = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 7 * 86400 + 7200))
PAST = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 7200))
NOW = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))


def reservation_line(name, start=LATER, end=LATER_END, users="(null)", accounts="(null)", groups="(null)", flags=""):
    return (f"ReservationName={name} StartTime={start} EndTime={end} Duration=02:00:00 Nodes=ujh-slurm-compute"
            f" NodeCnt=1 CoreCnt=2 Features=(null) PartitionName=(null) Flags={flags} TRES=cpu=2 Users={users}"
            f" Groups={groups} Accounts={accounts} Licenses=(null) State=INACTIVE BurstBuffer=(null) Watts=n/a"
            " MaxStartDelay=(null)")


RESERVATIONS = "\n".join([
    reservation_line("course101-later", accounts="course101"),
    reservation_line("chemistry-later", accounts="chemistry"),
    reservation_line("for-alice", users="alice"),
    reservation_line("not-bob", users="-bob"),
    reservation_line("not-alice", users="-alice,-bob"),
    reservation_line("lab-group", groups="gpulab"),
    reservation_line("over", start=PAST, end=PAST, accounts="physics"),
    reservation_line("maintenance", start=NOW, accounts="physics", flags="MAINT,IGNORE_JOBS"),
    reservation_line("$(id)", accounts="physics"),
]) + "\n"
PARTITIONS = "debug\nbig\ndebug\n"
PROFILES = [
    {"name": "small", "partition": "debug", "partitions": ["debug", "big"], "cpus": 1, "max_runtime": "2:00:00"},
    {"name": "large", "partition": "big", "cpus": 2},
    {"name": "gpulab", "partition": "big", "groups": ["gpulab"]},
]
ALL = ("account", "qos", "partition", "reservation", "runtime")


def choices(user="alice", groups=("people", "jupyterhub-users"), fields=ALL, allowed_qos=("normal", "short", "long")):
    return Choices(user, set(groups), PROFILES, fields, parse_associations(ASSOCIATIONS).get(user, []),
                   parse_default_accounts(USERS).get(user, ""), parse_reservations(RESERVATIONS),
                   sorted(set(PARTITIONS.split())), list(allowed_qos))


@pytest.mark.parametrize("text, seconds", [("45", 2700), ("45:30", 2730), ("1:00:00", 3600), ("2-0", 172800),
                                           ("1-02:03", 93780), ("1-02:03:04", 93784), (" 30 ", 1800)])
def test_slurm_time_limits_are_read_as_slurm_reads_them(text, seconds):
    assert parse_time(text) == seconds
    assert parse_time(format_time(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "UNLIMITED", "INFINITE", "-1", "1:00:00:00", "1h", "0:45:00\n#SBATCH --uid=0",
                                  "$(id)", "`id`", "1:00:00 --uid=0", "%30", "{{ 1 }}", None, 60] + HOSTILE_NAMES)
def test_anything_else_is_no_time_limit(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_associations_keep_users_rows_with_plain_names_only():
    users = parse_associations(ASSOCIATIONS)
    assert users["alice"] == [("physics", "", ["normal", "scavenger", "short"]), ("course101", "debug", ["normal"])]
    assert users["mallory"] == [] if "mallory" in users else True  # neither "bad account" nor "$(id)"
    assert "" not in users  # account-level rows
    assert parse_default_accounts(USERS) == {"alice": "physics", "carol": "chemistry", "root": "root"}


def test_reservations_open_to_their_users_accounts_and_groups_while_they_last():
    reservations = parse_reservations(RESERVATIONS)
    assert "$(id)" not in [r["name"] for r in reservations]
    c = choices()
    assert c.reservations == ["course101-later", "for-alice", "not-bob"]  # not over, not MAINT, not another's
    carol = choices("carol", groups=("people", "gpulab"))
    assert carol.reservations == ["chemistry-later", "not-bob", "not-alice", "lab-group"]
    over = next(r for r in reservations if r["name"] == "over")
    assert not reservation_admits(over, "alice", ["physics"], set())
    assert reservation_admits(over, "alice", ["physics"], set(), now=over["end"] - 1)


def test_profiles_are_offered_to_their_groups_only():
    assert [p["name"] for p in choices().profiles] == ["small", "large"]
    assert [p["name"] for p in choices("carol", groups=("gpulab",)).profiles] == ["small", "large", "gpulab"]


def test_a_valid_choice_becomes_the_lists_own_values():
    job = validate(choices(), {"profile": "small", "account": "course101", "qos": "normal", "partition": "debug",
                               "reservation": "course101-later", "runtime": " 1:30:00 "}, "1:00:00")
    assert job == {"profile": "small", "account": "course101", "qos": "normal", "partition": "debug",
                   "reservation": "course101-later", "runtime": "0-01:30:00"}
    assert validate(choices(), {"profile": ["large"]}, "1:00:00") == {
        "profile": "large", "account": "", "qos": "", "partition": "", "reservation": "", "runtime": ""}


@pytest.mark.parametrize("options, status, message", [
    ({"profile": "gpulab"}, 400, "Profile 'gpulab' is not one you may choose"),
    ({"profile": "small", "account": "chemistry"}, 400, "Account 'chemistry' is not one you may choose"),
    ({"profile": "small", "qos": "long"}, 400, "QoS 'long' is not one you may choose"),
    ({"profile": "small", "qos": "scavenger"}, 400, "QoS 'scavenger'"),  # hers, not on the site's list
    ({"profile": "small", "reservation": "chemistry-later"}, 400, "Reservation 'chemistry-later'"),
    ({"profile": "small", "reservation": "over"}, 400, "Reservation 'over'"),
    ({"profile": "small", "reservation": "maintenance"}, 400, "Reservation 'maintenance'"),
    ({"profile": "large", "partition": "debug"}, 400, "Partition 'debug'"),  # not one of large's
    ({"profile": "small", "runtime": "2:00:01"}, 400, "outside this profile's bounds: 1 minute to 0-02:00:00"),
    ({"profile": "large", "runtime": "1:00:01"}, 400, "outside this profile's bounds"),  # the site's runtime
    ({"profile": "small", "runtime": "0:00:59"}, 400, "outside this profile's bounds"),
    ({"profile": "small", "runtime": "UNLIMITED"}, 400, "is not a Slurm time limit"),
    # course101's association is on partition debug only.
    ({"profile": "large", "account": "course101"}, 400, "no association of alice with account 'course101'"),
    ({"profile": "small", "account": "course101", "qos": "short"}, 400, "and QoS 'short'"),
    ({"profile": "small", "qos": ["normal", "short"]}, 400, "Each option must be one string"),
    ({"profile": "small", "account": 7}, 400, "Each option must be one string"),
    ({"profile": "small", "req_options": "--uid=0"}, 400, "Unknown options: 'req_options'"),
])
def test_choices_outside_the_lists_are_refused_naming_the_option(options, status, message):
    with pytest.raises(web.HTTPError) as error:
        validate(choices(), options, "1:00:00")
    assert error.value.status_code == status and message in str(error.value.log_message), error.value.log_message


@pytest.mark.parametrize("field", ALL)
@pytest.mark.parametrize("value", HOSTILE_NAMES + ["physics --uid=0", "physics\n#SBATCH --uid=0", "course101'",
                                                   "$(id)", "`id`", "normal;id", "debug,big", "-x"])
def test_hostile_values_of_every_option_are_refused(field, value):
    with pytest.raises(web.HTTPError) as error:
        validate(choices(), {"profile": "small", field: value}, "1:00:00")
    assert error.value.status_code == 400


def test_a_user_no_profile_is_open_to_gets_a_clear_refusal():
    c = Choices("bob", set(), [PROFILES[2]], [])
    with pytest.raises(web.HTTPError, match="No resource profile of this hub is open to bob's groups"):
        validate(c, {}, "1:00:00")


def test_the_form_shows_only_the_lists_and_escapes_the_sites_names():
    profiles = PROFILES + [{"name": "x", "display_name": "<script>alert(1)</script>"}]
    c = Choices("alice", set(), profiles, ALL, parse_associations(ASSOCIATIONS)["alice"], "physics",
                parse_reservations(RESERVATIONS), ["debug", "big"], ["normal", "short"])
    form = render(c, "1:00:00")
    assert "<script>" not in form and "&lt;script&gt;alert(1)&lt;/script&gt;" in form
    assert '<option value="physics" selected>physics</option>' in form
    assert 'value="scavenger"' not in form and 'value="chemistry"' not in form and "$(id)" not in form
    assert "small (up to 2:00:00)" in form and "large (up to 1:00:00)" in form
    assert 'name="runtime"' in form
    assert 'name="account"' not in render(Choices("alice", set(), PROFILES, ["runtime"]), "1:00:00")


# Stand-ins for Slurm's commands: each prints its answer and counts its runs.
def stand_in_slurm(tmp_path, associations=ASSOCIATIONS, fail=""):
    for name, out in (("sacctmgr", None), ("scontrol", RESERVATIONS), ("sinfo", PARTITIONS)):
        path = tmp_path / name
        if name == "sacctmgr":
            body = ('case "$*" in *associations*) cat "%s/associations.txt";; *) cat "%s/users.txt";; esac'
                    % (tmp_path, tmp_path))
            (tmp_path / "associations.txt").write_text(associations)
            (tmp_path / "users.txt").write_text(USERS)
        else:
            (tmp_path / f"{name}.txt").write_text(out)
            body = 'cat "%s/%s.txt"' % (tmp_path, name)
        failing = 'echo "sacctmgr: error: Problem talking to the database: Connection refused" >&2; exit 1' \
            if name == fail else ""
        path.write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/{name}.runs"\n{failing}\n{body}\n')
        path.chmod(0o755)


def runs(tmp_path, name):
    path = tmp_path / f"{name}.runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_slurms_lists_are_cached_and_refreshed_behind_the_page(tmp_path):
    stand_in_slurm(tmp_path)
    facts = SlurmFacts(str(tmp_path), cache_seconds=0.2)

    async def scenario():
        first = await facts.get("associations")
        assert runs(tmp_path, "sacctmgr") == 1
        assert await facts.get("associations") is first and runs(tmp_path, "sacctmgr") == 1  # cached
        (tmp_path / "associations.txt").write_text(ASSOCIATIONS + "alice|chemistry||normal\n")
        await asyncio.sleep(0.3)
        stale = await facts.get("associations")  # answered at once from the cache, refreshed behind
        assert stale is first
        for _attempt in range(50):
            await asyncio.sleep(0.05)
            if facts._cache["associations"][1] is not first:
                break
        assert ("chemistry", "", ["normal"]) in (await facts.get("associations"))["alice"]
        assert runs(tmp_path, "sacctmgr") == 2
        await asyncio.gather(*(facts.fresh("reservations") for _caller in range(5)))
        assert runs(tmp_path, "scontrol") == 1  # asked together, run once

    asyncio.run(scenario())
    assert (tmp_path / "sacctmgr.runs").read_text().splitlines()[0] == (
        "--noheader --parsable2 show associations format=user,account,partition,qos")


def test_slurm_not_answering_is_a_clear_error_and_a_failed_refresh_keeps_the_last_answer(tmp_path):
    stand_in_slurm(tmp_path, fail="sacctmgr")
    with pytest.raises(web.HTTPError) as error:
        asyncio.run(SlurmFacts(str(tmp_path)).get("associations"))
    assert error.value.status_code == 503 and "Problem talking to the database" in error.value.log_message

    stand_in_slurm(tmp_path)
    facts = SlurmFacts(str(tmp_path), cache_seconds=0)

    async def scenario():
        first = await facts.get("associations")
        stand_in_slurm(tmp_path, fail="sacctmgr")
        assert await facts.get("associations") is first
        await asyncio.sleep(0.3)
        assert await facts.get("associations") is first
        # (the refresh that get started is let finish: Python 3.11 hangs cancelling a subprocess being made)
        await asyncio.gather(facts._refreshing["associations"], return_exceptions=True)

    asyncio.run(scenario())


def spawner(tmp_path, name="alice", **config):
    settings = {"profiles": PROFILES, "form_fields": list(ALL), "allowed_qos": ["normal", "short"],
                "slurm_bin_dir": str(tmp_path), "req_runtime": "1:00:00", "extra_options": ["--comment=site"],
                **config}
    return SiteSlurmSpawner(user=SimpleNamespace(name=name, id=3, url=f"/user/{name}/"), **settings)


def test_the_spawner_turns_choices_into_the_jobs_settings_and_starts_each_spawn_from_the_sites(tmp_path):
    stand_in_slurm(tmp_path)
    slurm._FACTS.clear()
    s = spawner(tmp_path)
    form = asyncio.run(profile_form(s))
    assert 'value="course101-later"' in form and 'value="chemistry"' not in form
    options = options_from_form({"profile": ["small"], "account": ["course101"], "qos": ["normal"],
                                 "reservation": ["course101-later"], "runtime": ["45"], "_xsrf": ["x"],
                                 "partition": [""]})
    assert options == {"profile": "small", "account": "course101", "qos": "normal", "reservation": "course101-later",
                       "runtime": "45"}
    asyncio.run(apply_profile(s, options))
    assert (s.req_partition, s.req_runtime, s.req_reservation, s.req_options) == (
        "debug", "0-00:45:00", "course101-later", "--account=course101 --qos=normal --comment=site")
    assert s.user_options == {"profile": "small", "account": "course101", "qos": "normal",
                              "reservation": "course101-later", "runtime": "0-00:45:00"}
    asyncio.run(apply_profile(s, {"profile": "large"}))  # the next spawn: nothing of the last one stays
    assert (s.req_partition, s.req_runtime, s.req_reservation, s.req_options, s.req_nprocs) == (
        "big", "1:00:00", "", "--comment=site", "2")
    with pytest.raises(web.HTTPError):
        asyncio.run(apply_profile(s, {"profile": "small", "account": "chemistry"}))
    # A value the cache does not know yet is looked up in Slurm once more before it is refused.
    before = runs(tmp_path, "sacctmgr")
    (tmp_path / "associations.txt").write_text(ASSOCIATIONS + "alice|chemistry||normal\n")
    asyncio.run(apply_profile(s, {"profile": "small", "account": "chemistry"}))
    assert s.req_options.startswith("--account=chemistry ") and runs(tmp_path, "sacctmgr") > before
    slurm._FACTS.clear()


@pytest.mark.parametrize("status, host", [("RUNNING|node-1.cluster|2026-12-04T19:33:00|None", "node-1.cluster"),
                                          ("PENDING|n/a|N/A|Priority", ""),
                                          ("RUNNING|$(id)|2026-12-04T19:33:00|None", ""),
                                          ("RUNNING", ""), ("", "")])
def test_the_jobs_node_is_read_from_its_own_field(tmp_path, status, host):
    s = spawner(tmp_path)
    s.job_status = status
    assert s.state_gethost() == host


@pytest.mark.parametrize("status, message", [
    ("PENDING|n/a|N/A|Reservation", "Slurm job 42 is pending: Reservation (waiting for its reservation to begin)"),
    ("PENDING|n/a|N/A|Priority", "Slurm job 42 is pending: Priority (jobs with a higher priority come first)"),
    ("PENDING|n/a|N/A|ReqNodeNotAvail, UnavailableNodes:n1", "pending: ReqNodeNotAvail, UnavailableNodes:n1 (the nodes"),
    ("PENDING|n/a|N/A|<b>x</b>", "pending: <b>x</b>"),  # the page escapes it (JupyterHub's own template)
    ("RUNNING|node1|2026-12-04T19:33:00|None", "Slurm job 42 is running on node1; waiting for its server to start"),
    ("RESV_DEL_HOLD|n/a|N/A|Reservation r1 was deleted", "Slurm job 42: RESV_DEL_HOLD (Reservation r1 was deleted)"),
])
def test_the_progress_page_shows_the_jobs_state_and_reason(tmp_path, status, message):
    s = spawner(tmp_path)
    s.job_id, s.job_status = "42", status
    assert message in s.pending_message()

    async def first_event():
        async for event in s.progress():
            return event

    assert asyncio.run(first_event())["message"] == s.pending_message()


@pytest.mark.parametrize("reason, hopeless", [
    ("QOSMaxWallDurationPerJobLimit", True), ("AssocMaxCpuPerJobLimit", True), ("PartitionTimeLimit", True),
    ("InvalidAccount", True), ("InvalidQOS", True), ("QOSMinCpuNotSatisfied", True), ("ReservationDeleted", True),
    ("DependencyNeverSatisfied", True), ("Priority", False), ("Resources", False), ("Reservation", False),
    ("QOSJobLimit", False), ("AssocGrpCpuLimit", False), ("ReqNodeNotAvail", False), ("BeginTime", False),
    ("None", False),
])
def test_only_reasons_that_never_clear_fail_the_spawn(reason, hopeless):
    import re
    assert bool(re.fullmatch(slurm.HOPELESS_REASONS, reason)) is hopeless


def test_the_jobs_end_time_is_kept_and_told(tmp_path):
    s = spawner(tmp_path)
    assert s.job_end_note() == ""
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 2 * 3600 + 5 * 60 + 30))
    s.job_id, s.job_end = "42", end
    assert s.job_end_note() == ("Your server runs as Slurm job 42, which Slurm ends at %s (in 2 h 05 min): save your"
                                " work before." % end.replace("T", " "))
    state = s.get_state()
    again = spawner(tmp_path)
    again.load_state(state)
    assert again.job_end == end
    again.clear_state()
    assert again.job_end == "" and again.job_end_note() == ""


@pytest.mark.parametrize("status, never", [
    ("PENDING|n/a|N/A|QOSMaxWallDurationPerJobLimit", "PENDING, QOSMaxWallDurationPerJobLimit"),
    ("RESV_DEL_HOLD|n/a|N/A|Reservation r1 was deleted", "RESV_DEL_HOLD, Reservation r1 was deleted"),
    ("PENDING|n/a|N/A|Priority", ""), ("RUNNING|n1|2026-12-04T19:33:00|None", ""), ("COMPLETED|n1|N/A|None", ""),
])
def test_a_job_that_waits_for_good_is_told_pending_and_marked_for_start_to_cancel(tmp_path, status, never):
    s = spawner(tmp_path)
    s.job_id = "42"
    s.batch_query_cmd = "printf '%%s\\n' '%s'" % status
    s.exec_prefix, s.req_homedir, s.req_username, s.req_keepvars = "", str(tmp_path), "alice", "PATH"
    s.hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    result = asyncio.run(s.query_job_status())
    assert s.never_starts == never
    if never:
        assert result == slurm.JobStatus.PENDING
