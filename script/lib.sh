# script/lib.sh: shared by script/demo, script/test and script/bench.
# Plain bash: these run on a fresh Debian 12 machine before make or cmake exist.

FX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages fx needs to build, test and run. Nothing comes from
# anywhere else.
FX_PACKAGES=(
  cmake make gcc pkg-config
  libzmq3-dev libczmq-dev libmsgpack-dev libsodium-dev libsqlite3-dev libgit2-dev libyaml-dev git
  python3 python3-dev python3-pytest python3-numpy python3-dill python3-pip python3-setuptools python3-venv
  valgrind procps bubblewrap
  munge slurmctld slurmd slurm-client
)

fx_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs whatever is missing (apt-get update only if something is).
fx_install_deps() {
  local missing=()
  for p in "${FX_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  fx_log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -o DPkg::Lock::Timeout=600 -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}"
}

# fx_build DIR [cmake args...]: configure and build into DIR.
fx_build() {
  local dir=$1
  shift
  fx_log "building in $dir $*"
  cmake -S "$FX_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -E 'warning|error|Error' || true
  cmake --build "$dir" -j"$(nproc)" >/dev/null
}
