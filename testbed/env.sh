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
  for cmd_pkg in podman:podman runc:runc debootstrap:debootstrap "$@"; do
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
  # A local wheelhouse of everything the hosts install, for the scenario that
  # proves installs work from a mirror without PyPI (jupyterhub_pip_find_links plus an
  # empty local index). Downloaded once per lock, reused afterwards.
  local key dir
  key=$(cat "$UJH_ROOT/roles/hub/files/requirements.txt" "$UJH_ROOT/testbed/wheelhouse.txt" | sha256sum | cut -c1-12)
  dir="$UJH_CACHE/wheelhouse-$key"
  if [ ! -f "$dir/.complete" ]; then
    ujh_log "downloading the test wheelhouse into $dir"
    rm -rf "$dir"
    # Resolve for the test hosts' interpreter (Debian 12: Python 3.11.2), not ours.
    PIP_CONFIG_FILE=/dev/null pip download -q --disable-pip-version-check -d "$dir" \
      --only-binary=:all: --python-version 3.11.2 \
      -r "$UJH_ROOT/roles/hub/files/requirements.txt" -r "$UJH_ROOT/testbed/wheelhouse.txt"
    mkdir -p "$dir/empty-index"
    touch "$dir/.complete"
  fi
  export UJH_WHEELHOUSE="$dir"
}

ujh_setup() {
  ujh_host_packages
  ujh_venv
  ujh_collection
  UJH_TEST_IMAGE=$("$UJH_ROOT/testbed/build-image" --print-name)
  export UJH_TEST_IMAGE
}
