# Sourced by testbed/test and testbed/demo: installs what the host needs (podman,
# runc, debootstrap, a pinned controller venv) and exports the test bed's settings.
# shellcheck shell=bash
UJH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export UJH_ROOT
export CONTAINERS_CONF="$UJH_ROOT/testbed/containers.conf"
export MOLECULE_PODMAN_EXECUTABLE="$UJH_ROOT/testbed/podman-cgroupns"  # see that script
export UJH_CACHE="${UJH_CACHE:-$UJH_ROOT/.cache}"

ujh_log() { printf '==> %s\n' "$*" >&2; }

# Extra COMMAND:PACKAGE arguments add to the base set (the tests add chromium).
ujh_host_packages() {
  local missing=()
  for cmd_pkg in podman:podman runc:runc debootstrap:debootstrap dpkg-scanpackages:dpkg-dev "$@"; do
    command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || missing+=("${cmd_pkg#*:}")
  done
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ "${#missing[@]}" -gt 0 ]; then
    ujh_log "installing host packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      echo "testbed: run as root (or with sudo) to install ${missing[*]}" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ujh_venv() {
  local venv="$UJH_ROOT/.venv" stamp
  stamp=$(sha256sum "$UJH_ROOT/requirements-dev.txt" | cut -c1-16)
  if [ ! -f "$venv/.stamp-$stamp" ]; then
    ujh_log "creating the controller venv (.venv) from requirements-dev.txt"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$UJH_ROOT/requirements-dev.txt"
    touch "$venv/.stamp-$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

ujh_collection() {
  # Use this checkout as the installed collection unopinionated.jupyterhub.
  local path="$UJH_CACHE/collections"
  mkdir -p "$path/ansible_collections/unopinionated"
  ln -sfn "$UJH_ROOT" "$path/ansible_collections/unopinionated/jupyterhub"
  export UJH_COLLECTIONS_PATH="$path"
  export ANSIBLE_COLLECTIONS_PATH="$path"
}

ujh_wheelhouse() {
  # A local wheelhouse of everything the test hosts install (every lock and pinned
  # spec of the roles, a scenario's own locks, plus testbed/wheelhouse.txt), for both Pythons the hosts
  # have (Debian 12: 3.11, Debian 13: 3.13). Every scenario but one installs from
  # it (jupyterhub_pip_find_links plus an empty local index: PyPI is never asked).
  # Downloaded once per set of inputs, reused afterwards.
  local locks key dir py previous specs which
  locks=("$UJH_ROOT"/roles/*/files/*requirements*.txt "$UJH_ROOT"/molecule/*/requirements*.txt "$UJH_ROOT/testbed/wheelhouse.txt")
  specs=("$UJH_ROOT"/roles/*/defaults/main.yml)
  # The previous release's too: the upgrade scenario converges with it (tools/previous-release).
  previous="$UJH_CACHE/previous-release-files"
  rm -rf "$previous" && mkdir -p "$previous"
  if which=$("$UJH_ROOT/tools/previous-release" --which); then
    git -C "$UJH_ROOT" archive "${which#* }" roles | tar -x -C "$previous" --wildcards \
      'roles/*/files/*requirements*.txt' 'roles/*/defaults/main.yml'
    locks+=("$previous"/roles/*/files/*requirements*.txt)
    specs+=("$previous"/roles/*/defaults/main.yml)
  fi
  key=$( { cat "${locks[@]}"; grep -h '_spec:' "${specs[@]}"; } | sha256sum | cut -c1-12)
  dir="$UJH_CACHE/wheelhouse-$key"
  if [ ! -f "$dir/.complete" ]; then
    ujh_log "downloading the test wheelhouse into $dir"
    rm -rf "$dir"
    for py in 3.11.2 3.13.5; do
      for lock in "${locks[@]}"; do
        # Each lock resolves on its own (the users' env may pin differently).
        PIP_CONFIG_FILE=/dev/null pip download -q --disable-pip-version-check -d "$dir" \
          --only-binary=:all: --python-version "$py" -r "$lock"
      done
      # shellcheck disable=SC2046  # one argument per pinned spec
      PIP_CONFIG_FILE=/dev/null pip download -q --disable-pip-version-check -d "$dir" \
        --only-binary=:all: --python-version "$py" \
        $(grep -h '_spec:' "${specs[@]}" | awk '{print $2}' | sort -u)
    done
    mkdir -p "$dir/empty-index"
    touch "$dir/.complete"
  fi
  export UJH_WHEELHOUSE="$dir"
}

ujh_run_dir() {
  # Per run: an SSH key (Ansible reaches the test hosts over SSH as root with it)
  # and a containers.conf that mounts the key and the wheelhouse into every test
  # container. Removed when the calling script exits.
  UJH_RUN_DIR=$(mktemp -d /tmp/ujh-run.XXXXXX)
  # shellcheck disable=SC2064  # expand now: the path is fixed for this run
  trap "rm -rf '$UJH_RUN_DIR'" EXIT
  ssh-keygen -q -t ed25519 -N '' -C "ujh-testbed" -f "$UJH_RUN_DIR/id_ed25519"
  cp "$UJH_ROOT/testbed/containers.conf" "$UJH_RUN_DIR/containers.conf"
  printf 'volumes = ["%s:/root/.ssh/authorized_keys:ro", "%s:/srv/wheelhouse:ro"]\n' \
    "$UJH_RUN_DIR/id_ed25519.pub" "$UJH_WHEELHOUSE" >> "$UJH_RUN_DIR/containers.conf"
  export UJH_RUN_DIR UJH_SSH_KEY="$UJH_RUN_DIR/id_ed25519"
  export CONTAINERS_CONF="$UJH_RUN_DIR/containers.conf"
}

ujh_molecule_env() {
  # What `molecule` needs besides ujh_setup: the wheelhouse, this run's SSH key and
  # containers.conf, and the podman driver's create playbook (molecule/shared/create.yml).
  # By hand:  . testbed/env.sh && ujh_setup && ujh_molecule_env && molecule converge -s default
  export UJH_IMAGE_BOOKWORM="${UJH_IMAGE_BOOKWORM:-$UJH_TEST_IMAGE}"
  ujh_wheelhouse
  ujh_run_dir
  UJH_PODMAN_CREATE=$(python -c 'import molecule_plugins.podman as m, pathlib; print(pathlib.Path(m.__file__).parent / "playbooks" / "create.yml")')
  export UJH_PODMAN_CREATE
}

ujh_setup() {
  ujh_host_packages
  ujh_venv
  ujh_collection
  UJH_TEST_IMAGE=$("$UJH_ROOT/testbed/build-image" --print-name)
  export UJH_TEST_IMAGE
}
