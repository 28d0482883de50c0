#!/bin/bash
# labctl VM startup script.
#
# `labctl vm create` puts this file into the VM's `startup-script` metadata. Compute Engine runs
# it as root on every boot (google-startup-scripts.service; output goes to the serial console and
# `journalctl -u google-startup-scripts`), so every step checks before it acts:
#
#   1. report guest attribute labctl/status=installing
#   2. read the labctl-* metadata attributes
#   3. pick the account that runs JupyterLab (created if missing; never root)
#   4. GPU VMs: check the NVIDIA driver with nvidia-smi, install it if missing
#   5. create the JupyterLab venv /opt/labctl/jupyter-venv (only if missing)
#   6. pip install JupyterLab (only once), optionally PyTorch (cu126 wheels on GPU VMs)
#   7. generate the Jupyter token once (/opt/labctl/jupyter-token, 0600, owned by that account)
#   8. write /opt/labctl/idle-check.sh and the systemd units (only if changed; daemon-reload
#      only then), enable labctl-jupyter.service and labctl-idle-check.timer
#   9. wait until JupyterLab answers on 127.0.0.1:8888, then report labctl/status=ready
# The first failing step stops the script and reports labctl/status=error:<step>.
#
# Metadata attributes read (computeMetadata/v1/instance/attributes/KEY):
#   labctl-user             account running JupyterLab. Default: the account remembered from an
#                           earlier boot, else the lowest-uid account (uid >= 1000) whose home is
#                           in /home, else a `jupyter` account created here.
#   labctl-gpu              "true" forces the GPU driver step (also runs when lspci shows an
#                           NVIDIA device). Default: empty (detect).
#   labctl-idle-minutes     stop the VM after this many idle minutes; 0 = never. Default 60.
#                           Re-read by every idle check, so it can be changed on a running VM.
#   labctl-install-pytorch  "true" installs torch + torchvision into the JupyterLab venv (cu126
#                           index on GPU VMs: the last CUDA build with Pascal/P100 kernels;
#                           CPU index otherwise). Default false.
# Guest attributes written (namespace labctl; needs metadata enable-guest-attributes=TRUE):
#   labctl/status        installing | ready | error:<step>
#   labctl/jupyter-port  8888
#   labctl/jupyter-user  the account running JupyterLab
#   labctl/last-active   the last activity the idle check saw (RFC 3339 UTC), at every check
#   labctl/stopped-by    "idle" when the idle check stops the VM, with labctl/stopped-at (RFC 3339
#                        UTC), so `labctl vm show` can tell an idle stop from a preemption
# The Jupyter token is never logged nor published; read it over SSH from /opt/labctl/jupyter-token.
#
# Environment overrides (production leaves them unset; the tests run this script unprivileged
# against stub commands):
#   LABCTL_ROOT            prefix for /opt, /etc/systemd/system, /home, /run (default: empty)
#   METADATA_URL           metadata server base (default http://metadata.google.internal/computeMetadata/v1)
#   LABCTL_PYTHON          interpreter that creates the venv (default python3)
#   LABCTL_GA_PAUSE        seconds between guest-attribute writes (default 0.5; the metadata
#                          server drops guest-attribute writes above about 3 per second)
#   LABCTL_READY_TIMEOUT   seconds to wait for JupyterLab to answer (default 180)
#   LABCTL_NVIDIA_DRIVER   `ubuntu-drivers install --gpgpu` driver used when the VM has no Deep
#                          Learning VM driver installer (default nvidia:580-server: the 580
#                          branch is the last one supporting Pascal GPUs such as the P100)
set -Eeuo pipefail

readonly ROOT=${LABCTL_ROOT:-}
readonly METADATA_URL=${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
readonly PYTHON=${LABCTL_PYTHON:-python3}
readonly GA_PAUSE=${LABCTL_GA_PAUSE:-0.5}
readonly READY_TIMEOUT=${LABCTL_READY_TIMEOUT:-180}
readonly NVIDIA_DRIVER=${LABCTL_NVIDIA_DRIVER:-nvidia:580-server}

readonly LABCTL_DIR=$ROOT/opt/labctl
readonly STATE_DIR=$LABCTL_DIR/state
readonly VENV=$LABCTL_DIR/jupyter-venv
readonly TOKEN_FILE=$LABCTL_DIR/jupyter-token
readonly IDLE_SCRIPT=$LABCTL_DIR/idle-check.sh
readonly IDLE_ENV=$LABCTL_DIR/idle-check.env
readonly IDLE_STATE_DIR=$ROOT/run/labctl
readonly UNIT_DIR=$ROOT/etc/systemd/system
readonly HOME_BASE=$ROOT/home
readonly DLVM_DRIVER_INSTALLER=$ROOT/opt/deeplearning/install-driver.sh

readonly JUPYTER_HOST=127.0.0.1
readonly JUPYTER_PORT=8888
readonly JUPYTER_UNIT=labctl-jupyter.service
readonly IDLE_UNIT=labctl-idle-check.service
readonly IDLE_TIMER=labctl-idle-check.timer
readonly DEFAULT_IDLE_MINUTES=60
readonly JUPYTER_PACKAGES=("jupyterlab>=4,<5" "ipykernel")
readonly TORCH_PACKAGES=(torch torchvision)
readonly TORCH_INDEX_GPU=https://download.pytorch.org/whl/cu126
readonly TORCH_INDEX_CPU=https://download.pytorch.org/whl/cpu
readonly USER_RE='^[a-z_][a-z0-9_.-]{0,31}$'

STEP=start
META_USER=""
META_GPU=""
IDLE_MINUTES=$DEFAULT_IDLE_MINUTES
INSTALL_PYTORCH=false
HAVE_GPU=false
JUPYTER_USER=""
JUPYTER_GID=""
JUPYTER_HOME=""
RESTART_JUPYTER=false
JUPYTER_UNIT_CHANGED=false
IDLE_TIMER_CHANGED=false
FILE_CHANGED=false

log() {
  printf '%s labctl-startup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

step() {
  STEP=$1
  shift
  log "== step $STEP: $*"
}

# metadata_get KEY DEFAULT: print instance attribute KEY, or DEFAULT if it is not set.
metadata_get() {
  local value
  if value=$(curl -fs --connect-timeout 5 --max-time 10 --retry 3 --retry-connrefused \
    -H 'Metadata-Flavor: Google' "$METADATA_URL/instance/attributes/$1" 2>/dev/null); then
    printf '%s' "$value"
  else
    printf '%s' "$2"
  fi
}

# ga_put KEY VALUE: write guest attribute labctl/KEY. Best effort: a VM without
# enable-guest-attributes=TRUE must still come up.
ga_put() {
  if curl -fsS --connect-timeout 5 --max-time 10 --retry 2 -X PUT --data "$2" \
    -H 'Metadata-Flavor: Google' "$METADATA_URL/instance/guest-attributes/labctl/$1" >/dev/null; then
    log "guest attribute labctl/$1=$2"
  else
    log "WARNING: could not write guest attribute labctl/$1 (is enable-guest-attributes=TRUE set?)"
  fi
  sleep "$GA_PAUSE"
}

on_err() {
  # Runs in subshells too (set -E); only the main shell logs, the caller then fails as well.
  if [[ $BASHPID == "$$" ]]; then
    log "command failed with status $1 at line $2"
  fi
}

on_exit() {
  local rc=$?
  if ((rc != 0)); then
    log "FAILED at step $STEP (exit status $rc)"
    ga_put status "error:$STEP"
  fi
}

is_true() {
  case ${1,,} in
    true | yes | 1 | on) return 0 ;;
    *) return 1 ;;
  esac
}

# write_file PATH MODE FUNCTION [ARGS...]: write FUNCTION's output to PATH if it differs from
# the current content (atomically, via a temporary file); sets FILE_CHANGED=true|false.
write_file() {
  local path=$1 mode=$2 tmp
  shift 2
  mkdir -p "${path%/*}"
  tmp=$(mktemp "$path.XXXXXX")
  "$@" >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
    FILE_CHANGED=false
    log "unchanged: $path"
  else
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
    FILE_CHANGED=true
    log "wrote $path"
  fi
}

# passwd_field NAME FIELD: print field FIELD (1-based, as in /etc/passwd) of account NAME.
passwd_field() {
  local entry
  entry=$(getent passwd "$1") || return 1
  cut -d: -f"$2" <<<"$entry"
}

# first_home_user: print the lowest-uid regular account (uid 1000-59999) whose home is in /home.
first_home_user() {
  local dir name home uid best="" best_uid=0
  for dir in "$HOME_BASE"/*/; do
    [[ -d $dir ]] || continue
    dir=${dir%/}
    name=${dir##*/}
    [[ $name =~ $USER_RE ]] || continue
    home=$(passwd_field "$name" 6) || continue
    uid=$(passwd_field "$name" 3) || continue
    [[ ${home%/} == "$dir" && $uid =~ ^[0-9]+$ ]] || continue
    ((uid >= 1000 && uid < 60000)) || continue
    if [[ -z $best ]] || ((uid < best_uid)); then
      best=$name
      best_uid=$uid
    fi
  done
  if [[ -n $best ]]; then
    printf '%s\n' "$best"
  fi
}

read_config() {
  META_USER=$(metadata_get labctl-user "")
  META_GPU=$(metadata_get labctl-gpu "")
  IDLE_MINUTES=$(metadata_get labctl-idle-minutes "$DEFAULT_IDLE_MINUTES")
  IDLE_MINUTES=${IDLE_MINUTES//[[:space:]]/}
  if [[ ! $IDLE_MINUTES =~ ^[0-9]+$ ]]; then
    log "WARNING: labctl-idle-minutes is not a whole number; using $DEFAULT_IDLE_MINUTES"
    IDLE_MINUTES=$DEFAULT_IDLE_MINUTES
  fi
  IDLE_MINUTES=$((10#$IDLE_MINUTES))
  INSTALL_PYTORCH=$(metadata_get labctl-install-pytorch false)
  log "labctl-user='$META_USER' labctl-gpu='$META_GPU' labctl-idle-minutes=$IDLE_MINUTES" \
    "labctl-install-pytorch='$INSTALL_PYTORCH'"
}

setup_user() {
  local user=$META_USER origin="metadata labctl-user"
  if [[ -z $user && -s $STATE_DIR/user ]]; then
    user=$(<"$STATE_DIR/user")
    origin="remembered from an earlier boot"
  fi
  if [[ -z $user ]]; then
    user=$(first_home_user)
    origin="first account with a home in /home"
  fi
  if [[ -z $user ]]; then
    user=jupyter
    origin="no account in /home"
  fi
  if [[ ! $user =~ $USER_RE || $user == root ]]; then
    log "invalid account name for JupyterLab: '$user'"
    return 1
  fi
  if ! getent passwd "$user" >/dev/null; then
    log "creating account $user"
    useradd --create-home --home-dir "$HOME_BASE/$user" --shell /bin/bash --user-group "$user"
  fi
  local uid
  uid=$(passwd_field "$user" 3)
  JUPYTER_GID=$(passwd_field "$user" 4)
  JUPYTER_HOME=$(passwd_field "$user" 6)
  if [[ $uid == 0 ]]; then
    log "refusing to run JupyterLab as a uid-0 account ($user)"
    return 1
  fi
  if [[ ! -d $JUPYTER_HOME ]]; then
    mkdir -p "$JUPYTER_HOME"
    chown "$user:$JUPYTER_GID" "$JUPYTER_HOME"
  fi
  JUPYTER_USER=$user
  printf '%s\n' "$user" >"$STATE_DIR/user"
  log "JupyterLab account: $user (uid $uid, home $JUPYTER_HOME; $origin)"
}

driver_ok() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1
}

setup_gpu() {
  local pci=""
  if is_true "$META_GPU"; then
    HAVE_GPU=true
    log "GPU VM (metadata labctl-gpu=$META_GPU)"
  elif command -v lspci >/dev/null 2>&1 && pci=$(lspci 2>/dev/null) && grep -qi nvidia <<<"$pci"; then
    HAVE_GPU=true
    log "GPU VM (NVIDIA device on the PCI bus)"
  else
    log "no NVIDIA GPU detected; no driver needed"
    return 0
  fi
  if driver_ok; then
    log "NVIDIA driver present: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true)"
    return 0
  fi
  log "NVIDIA driver missing (nvidia-smi fails); installing it"
  if [[ -x $DLVM_DRIVER_INSTALLER ]]; then
    log "running the Deep Learning VM driver installer $DLVM_DRIVER_INSTALLER"
    "$DLVM_DRIVER_INSTALLER" 9>&-
  elif command -v ubuntu-drivers >/dev/null 2>&1; then
    log "running ubuntu-drivers install --gpgpu $NVIDIA_DRIVER"
    ubuntu-drivers install --gpgpu "$NVIDIA_DRIVER" 9>&-
    modprobe nvidia || log "WARNING: modprobe nvidia failed"
  else
    log "no driver installer found (neither $DLVM_DRIVER_INSTALLER nor ubuntu-drivers);" \
      "use a Deep Learning VM image (deeplearning-platform-release)"
    return 1
  fi
  if ! driver_ok; then
    log "nvidia-smi still fails after the driver install (a reboot may be needed)"
    return 1
  fi
  log "NVIDIA driver installed: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true)"
}

setup_venv() {
  if [[ -x $VENV/bin/python && -x $VENV/bin/pip ]]; then
    log "venv $VENV exists"
    return 0
  fi
  log "creating venv $VENV"
  rm -f "$STATE_DIR/jupyterlab.installed" "$STATE_DIR/pytorch.installed"
  if ! "$PYTHON" -m venv --clear "$VENV"; then
    if ! command -v apt-get >/dev/null 2>&1; then
      return 1
    fi
    log "venv creation failed; installing python3-venv with apt-get"
    apt-get update 9>&-
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv 9>&-
    "$PYTHON" -m venv --clear "$VENV"
  fi
}

pip_install() {
  "$VENV/bin/pip" install --no-input --disable-pip-version-check --progress-bar off "$@"
}

install_jupyterlab() {
  local want="${JUPYTER_PACKAGES[*]}" stamp=$STATE_DIR/jupyterlab.installed
  if [[ -s $stamp && $(<"$stamp") == "$want" && -x $VENV/bin/jupyter-lab ]]; then
    log "JupyterLab already installed ($want)"
    return 0
  fi
  log "pip install $want"
  pip_install "${JUPYTER_PACKAGES[@]}"
  printf '%s\n' "$want" >"$stamp"
  RESTART_JUPYTER=true
}

install_pytorch() {
  if ! is_true "$INSTALL_PYTORCH"; then
    log "skipped (labctl-install-pytorch is not true)"
    return 0
  fi
  local index=$TORCH_INDEX_CPU stamp=$STATE_DIR/pytorch.installed want
  if [[ $HAVE_GPU == true ]]; then
    index=$TORCH_INDEX_GPU
  fi
  want="${TORCH_PACKAGES[*]} --index-url $index"
  if [[ -s $stamp && $(<"$stamp") == "$want" ]]; then
    log "PyTorch already installed ($want)"
    return 0
  fi
  log "pip install $want"
  pip_install --index-url "$index" "${TORCH_PACKAGES[@]}"
  printf '%s\n' "$want" >"$stamp"
  RESTART_JUPYTER=true
}

setup_token() {
  local size=0 tmp
  if [[ -f $TOKEN_FILE ]]; then
    size=$(wc -c <"$TOKEN_FILE")
  fi
  if ((size >= 32)); then
    log "keeping the existing Jupyter token ($TOKEN_FILE)"
  else
    log "generating the Jupyter token ($TOKEN_FILE)"
    tmp=$TOKEN_FILE.new
    # 32 random bytes as 64 hex characters, no newline (JUPYTER_TOKEN_FILE is read verbatim).
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp")
    size=$(wc -c <"$tmp")
    if ((size != 64)); then
      rm -f "$tmp"
      log "token generation produced $size characters, expected 64"
      return 1
    fi
    mv -f "$tmp" "$TOKEN_FILE"
    RESTART_JUPYTER=true
  fi
  chown "$JUPYTER_USER:$JUPYTER_GID" "$TOKEN_FILE"
  chmod 0600 "$TOKEN_FILE"
}

jupyter_unit() {
  cat <<EOF
# Written by the labctl startup script; rewritten on boot if it differs.
[Unit]
Description=labctl JupyterLab ($JUPYTER_HOST:$JUPYTER_PORT only; reach it through an SSH tunnel)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=$JUPYTER_USER
WorkingDirectory=$JUPYTER_HOME
Environment=JUPYTER_TOKEN_FILE=$TOKEN_FILE
Environment=PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=$VENV/bin/jupyter-lab --no-browser --ServerApp.ip=$JUPYTER_HOST --ServerApp.port=$JUPYTER_PORT --ServerApp.port_retries=0 --ServerApp.root_dir=$JUPYTER_HOME
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
}

idle_service_unit() {
  cat <<EOF
# Written by the labctl startup script; rewritten on boot if it differs.
[Unit]
Description=labctl idle check (stops the VM when JupyterLab and SSH have been idle)
After=$JUPYTER_UNIT

[Service]
Type=oneshot
EnvironmentFile=$IDLE_ENV
ExecStart=$IDLE_SCRIPT
EOF
}

idle_timer_unit() {
  cat <<EOF
# Written by the labctl startup script; rewritten on boot if it differs.
[Unit]
Description=Run the labctl idle check every minute

[Timer]
OnBootSec=5min
OnUnitActiveSec=1min
AccuracySec=15s

[Install]
WantedBy=timers.target
EOF
}

idle_env() {
  cat <<EOF
# Written by the labctl startup script. The metadata attribute labctl-idle-minutes overrides
# LABCTL_IDLE_MINUTES_DEFAULT at every check.
LABCTL_DIR=$LABCTL_DIR
LABCTL_TOKEN_FILE=$TOKEN_FILE
LABCTL_IDLE_STATE_DIR=$IDLE_STATE_DIR
LABCTL_IDLE_MINUTES_DEFAULT=$IDLE_MINUTES
LABCTL_JUPYTER_URL=http://$JUPYTER_HOST:$JUPYTER_PORT
METADATA_URL=$METADATA_URL
EOF
}

idle_check_script() {
  cat <<'EOF'
#!/bin/bash
# labctl idle check. Written by the labctl startup script; run every minute by
# labctl-idle-check.timer (settings in idle-check.env, see labctl-idle-check.service).
#
# Reports the last activity it knows as guest attribute labctl/last-active (RFC 3339, UTC) at
# every run, for `labctl cleanup` (best effort: needs enable-guest-attributes=TRUE), and stops the
# VM (`shutdown -h now`; a guest-initiated shutdown stops a Compute Engine VM) once it has been
# idle for labctl-idle-minutes (metadata, read at every run; 0 = never stop, still report):
#   - activity: a login session (`who`), a busy/starting Jupyter kernel, or a GPU busier than
#     LABCTL_IDLE_GPU_BUSY_PERCENT; each resets the idle clock;
#   - the idle time runs from the latest of: the last activity this check saw, the first check
#     after boot (the clock lives in /run), and the last_activity of any Jupyter kernel or
#     terminal. Browser tabs polling the API do not count, only kernel and terminal traffic.
set -euo pipefail

LABCTL_DIR=${LABCTL_DIR:-/opt/labctl}
TOKEN_FILE=${LABCTL_TOKEN_FILE:-$LABCTL_DIR/jupyter-token}
STATE_DIR=${LABCTL_IDLE_STATE_DIR:-/run/labctl}
METADATA_URL=${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
JUPYTER_URL=${LABCTL_JUPYTER_URL:-http://127.0.0.1:8888}
DEFAULT_MINUTES=${LABCTL_IDLE_MINUTES_DEFAULT:-60}
GPU_BUSY_PERCENT=${LABCTL_IDLE_GPU_BUSY_PERCENT:-5}
NOW=${LABCTL_NOW:-$(date +%s)}
STAMP=$STATE_DIR/idle-last-active

log() {
  printf '%s labctl-idle: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

# put_attribute KEY VALUE: one guest-attribute write (best effort). A run writes at most three,
# well inside the metadata server's limit of about 10 a minute.
put_attribute() {
  curl -fs --connect-timeout 3 --max-time 5 -X PUT --data "$2" -H 'Metadata-Flavor: Google' \
    "$METADATA_URL/instance/guest-attributes/labctl/$1" >/dev/null 2>&1 ||
    log "WARNING: could not write guest attribute labctl/$1"
}

# report_active EPOCH: publish the last activity.
report_active() {
  put_attribute last-active "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ)"
}

mark_active() {
  printf '%s\n' "$NOW" >"$STAMP"
  report_active "$NOW"
  log "$1; not idle"
  exit 0
}

# jupyter_get NAME: GET /api/NAME with the token (passed on stdin, never on the command line);
# no_track_activity keeps this request from counting as user activity.
jupyter_get() {
  [[ -r $TOKEN_FILE ]] || return 1
  { printf 'header = "Authorization: token '; cat "$TOKEN_FILE"; printf '"\n'; } |
    curl -fs --connect-timeout 3 --max-time 10 -K - "$JUPYTER_URL/api/$1?no_track_activity=1"
}

minutes=""
if ! minutes=$(curl -fs --connect-timeout 3 --max-time 5 -H 'Metadata-Flavor: Google' \
  "$METADATA_URL/instance/attributes/labctl-idle-minutes" 2>/dev/null); then
  minutes=$DEFAULT_MINUTES
fi
minutes=${minutes//[[:space:]]/}
if [[ ! $minutes =~ ^[0-9]+$ ]]; then
  log "WARNING: labctl-idle-minutes '$minutes' is not a whole number; using $DEFAULT_MINUTES"
  minutes=$DEFAULT_MINUTES
fi
minutes=$((10#$minutes))

mkdir -p "$STATE_DIR"
last=""
if [[ -f $STAMP ]]; then
  last=$(<"$STAMP")
fi
if [[ ! $last =~ ^[0-9]+$ ]]; then
  mark_active "idle clock started (limit $minutes min)"
fi

sessions=$(who 2>/dev/null || true)
if [[ -n ${sessions//[[:space:]]/} ]]; then
  mark_active "$(grep -c . <<<"$sessions") login session(s) open"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  util=$(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null || true)
  while read -r percent; do
    if [[ $percent =~ ^[0-9]+$ ]] && ((percent > GPU_BUSY_PERCENT)); then
      mark_active "GPU utilization ${percent}%"
    fi
  done <<<"$util"
fi

if kernels=$(jupyter_get kernels); then
  if grep -Eq '"execution_state"[[:space:]]*:[[:space:]]*"(busy|starting)"' <<<"$kernels"; then
    mark_active "a Jupyter kernel is busy"
  fi
  terminals=$(jupyter_get terminals) || terminals=""
  count=$(grep -o '"execution_state"' <<<"$kernels" | wc -l) || count=0
  while read -r stamp; do
    [[ -n $stamp ]] || continue
    if t=$(date -d "$stamp" +%s 2>/dev/null) && ((t > last)); then
      last=$t
    fi
  done < <(grep -oE '"last_activity"[[:space:]]*:[[:space:]]*"[^"]+"' <<<"$kernels $terminals" |
    sed -E 's/.*"([^"]+)"$/\1/')
  log "Jupyter: $((count)) kernel(s), none busy"
else
  log "Jupyter API not reachable; judging by login sessions only"
fi

report_active "$last"
idle=$((NOW - last))
if ((minutes == 0)); then
  log "idle for $((idle / 60)) min; idle shutdown disabled (labctl-idle-minutes=0)"
  exit 0
fi
if ((idle >= minutes * 60)); then
  log "idle for $((idle / 60)) min (limit $minutes min): shutting down"
  # Said before stopping: Compute itself records no reason for a guest-initiated stop.
  put_attribute stopped-by idle
  put_attribute stopped-at "$(date -u -d "@$NOW" +%Y-%m-%dT%H:%M:%SZ)"
  shutdown -h now
  exit 0
fi
log "idle for $((idle / 60)) of $minutes min"
EOF
}

write_units() {
  local changed=false
  write_file "$UNIT_DIR/$JUPYTER_UNIT" 0644 jupyter_unit
  JUPYTER_UNIT_CHANGED=$FILE_CHANGED
  [[ $FILE_CHANGED == false ]] || changed=true
  write_file "$UNIT_DIR/$IDLE_UNIT" 0644 idle_service_unit
  [[ $FILE_CHANGED == false ]] || changed=true
  write_file "$UNIT_DIR/$IDLE_TIMER" 0644 idle_timer_unit
  IDLE_TIMER_CHANGED=$FILE_CHANGED
  [[ $FILE_CHANGED == false ]] || changed=true
  if [[ $changed == true ]]; then
    systemctl daemon-reload
  else
    log "units unchanged; no daemon-reload"
  fi
}

start_jupyter() {
  if [[ $JUPYTER_UNIT_CHANGED == true || $RESTART_JUPYTER == true ]]; then
    systemctl enable "$JUPYTER_UNIT"
    systemctl restart "$JUPYTER_UNIT"
  else
    systemctl enable --now "$JUPYTER_UNIT"
  fi
}

start_idle_timer() {
  if [[ $IDLE_TIMER_CHANGED == true ]]; then
    systemctl enable "$IDLE_TIMER"
    systemctl restart "$IDLE_TIMER"
  else
    systemctl enable --now "$IDLE_TIMER"
  fi
}

# jupyter_api NAME: GET /api/NAME with the token (sent on stdin, never on a command line).
jupyter_api() {
  { printf 'header = "Authorization: token '; cat "$TOKEN_FILE"; printf '"\n'; } |
    curl -fs --connect-timeout 3 --max-time 5 -K - "http://$JUPYTER_HOST:$JUPYTER_PORT/api/$1"
}

wait_for_jupyter() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  until jupyter_api status >/dev/null; do
    if ((SECONDS >= deadline)); then
      log "JupyterLab did not answer on $JUPYTER_HOST:$JUPYTER_PORT within ${READY_TIMEOUT}s" \
        "(see journalctl -u $JUPYTER_UNIT)"
      return 1
    fi
    sleep 2
  done
  log "JupyterLab answers on $JUPYTER_HOST:$JUPYTER_PORT"
}

main() {
  trap 'on_err $? $LINENO' ERR
  trap on_exit EXIT
  log "labctl startup script starting"
  if [[ -z $ROOT && $EUID -ne 0 ]]; then
    log "must run as root"
    return 1
  fi
  mkdir -p "$LABCTL_DIR" "$STATE_DIR"
  chmod 0755 "$LABCTL_DIR"
  # One run at a time (a manual `google_metadata_script_runner startup` during boot waits).
  # Installers that may leave processes behind get fd 9 closed (9>&-) so they cannot keep
  # holding the lock.
  exec 9>"$STATE_DIR/startup.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 1800 9
  fi
  ga_put status installing

  step metadata "read labctl-* instance attributes"
  read_config
  step user "choose the account that runs JupyterLab"
  setup_user
  step gpu-driver "check the NVIDIA driver"
  setup_gpu
  step venv "JupyterLab virtual environment"
  setup_venv
  step jupyterlab "install JupyterLab"
  install_jupyterlab
  step pytorch "optional PyTorch"
  install_pytorch
  step token "Jupyter token"
  setup_token
  step idle-check "idle shutdown check script"
  write_file "$IDLE_SCRIPT" 0755 idle_check_script
  write_file "$IDLE_ENV" 0644 idle_env
  step systemd-units "systemd units"
  write_units
  step jupyter-service "start $JUPYTER_UNIT"
  start_jupyter
  step idle-timer "start $IDLE_TIMER"
  start_idle_timer
  step jupyter-ready "wait for JupyterLab"
  wait_for_jupyter

  STEP=report
  ga_put jupyter-user "$JUPYTER_USER"
  ga_put jupyter-port "$JUPYTER_PORT"
  ga_put status ready
  log "ready: JupyterLab on $JUPYTER_HOST:$JUPYTER_PORT as $JUPYTER_USER; token in $TOKEN_FILE" \
    "(idle shutdown after $IDLE_MINUTES min, 0 = off)"
}

main "$@"
