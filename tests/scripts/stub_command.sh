#!/bin/bash
# Stand-in for the system commands scripts/startup_script.sh and its idle check call.
#
# The tests link this file under each command's name (curl, systemctl, pip, ...) into a directory
# put first on PATH. Every call is appended to $STUB_DIR/calls.log as one line: the command name
# and its arguments separated by \x1f. Answers come from files under $STUB_DIR:
#   meta/KEY                   metadata attribute KEY (curl GET $METADATA_URL/instance/attributes/KEY)
#   guest-attributes.log       one "ns/key=value" line per guest-attribute PUT
#   guest-attributes-disabled  if present, guest-attribute PUTs fail (like a 404)
#   jupyter/api_NAME.json      answer for GET http://127.0.0.1:8888/api/NAME (else "connection
#                              refused"); the Authorization header (sent with curl -K -) must
#                              carry the token in $STUB_TOKEN_FILE; verdicts go to jupyter-auth.log
#   passwd                     accounts for getent / useradd
#   lspci.txt, who.txt         output of lspci / who
#   gpu-util.txt               nvidia-smi utilization answer (default 0)
#   driver-installed           created by the driver installer; nvidia-smi fails until it exists
#   fail/NAME                  makes command NAME fail with status 1
set -uo pipefail

D=${STUB_DIR:?}
name=${0##*/}

record() {
  {
    printf '%s' "$name"
    if (($#)); then
      printf '\037%s' "$@"
    fi
    printf '\n'
  } >>"$D/calls.log"
}

stub_curl() {
  local method=GET data="" url="" arg line h token verdict rel f api
  local -a headers=()
  while (($#)); do
    arg=$1
    shift
    case $arg in
      -H | --header) headers+=("$1") && shift ;;
      -X | --request) method=$1 && shift ;;
      -d | --data | --data-binary)
        data=$1
        shift
        if [[ $method == GET ]]; then method=POST; fi
        ;;
      -K | --config)
        if [[ $1 == - ]]; then
          while IFS= read -r line; do
            if [[ $line =~ ^header[[:space:]]*=[[:space:]]*\"(.*)\"$ ]]; then
              headers+=("${BASH_REMATCH[1]}")
            fi
          done
        fi
        shift
        ;;
      -o | --output | -w | --write-out | --retry | --retry-delay | --retry-max-time | -m | \
        --max-time | --connect-timeout) shift ;;
      -*) ;;
      *) url=$arg ;;
    esac
  done
  local meta=${METADATA_URL%/}/
  if [[ $url == "$meta"* ]]; then
    rel=${url#"$meta"}
    for h in "${headers[@]}"; do
      if [[ $h == "Metadata-Flavor: Google" ]]; then
        case $method:$rel in
          GET:instance/attributes/*)
            f=$D/meta/${rel#instance/attributes/}
            [[ -f $f ]] || return 22 # 404 with -f
            cat "$f"
            return 0
            ;;
          PUT:instance/guest-attributes/*)
            [[ ! -e $D/guest-attributes-disabled ]] || return 22
            printf '%s=%s\n' "${rel#instance/guest-attributes/}" "$data" >>"$D/guest-attributes.log"
            return 0
            ;;
          *) return 22 ;;
        esac
      fi
    done
    return 22 # 403 without the Metadata-Flavor header
  fi
  if [[ $url == http://127.0.0.1:8888/* ]]; then
    api=${url#http://127.0.0.1:8888/}
    api=${api%%\?*}
    api=${api//\//_}
    verdict=missing
    for h in "${headers[@]}"; do
      if [[ ${h,,} == authorization:* ]]; then
        verdict=bad
        token=$(cat "${STUB_TOKEN_FILE:-/nonexistent}" 2>/dev/null) || token=""
        if [[ -n $token && $h == "Authorization: token $token" ]]; then verdict=ok; fi
      fi
    done
    printf '%s %s\n' "$api" "$verdict" >>"$D/jupyter-auth.log"
    f=$D/jupyter/$api.json
    [[ -f $f ]] || return 7 # connection refused
    [[ $verdict == ok ]] || return 22
    cat "$f"
    return 0
  fi
  return 6 # could not resolve host
}

if [[ -e $D/fail/$name ]]; then
  record "$@"
  echo "$name: failing as configured by the test" >&2
  exit 1
fi

record "$@"
case $name in
  curl)
    stub_curl "$@"
    exit
    ;;
  python3 | python)
    if [[ ${1-} == -m && ${2-} == venv ]]; then
      venv_bin=${!#}/bin
      mkdir -p "$venv_bin"
      for tool in python pip; do
        [[ -e $venv_bin/$tool ]] || ln -s "$(readlink -f "$0")" "$venv_bin/$tool"
      done
    fi
    ;;
  pip)
    if [[ ${1-} == install ]]; then
      for arg; do
        if [[ $arg == jupyterlab* ]]; then
          printf '#!/bin/sh\n' >"${0%/*}/jupyter-lab"
          chmod 0755 "${0%/*}/jupyter-lab"
        fi
      done
    fi
    ;;
  nvidia-smi)
    if [[ ! -e $D/driver-installed ]]; then
      echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
      exit 9
    fi
    case " $* " in
      *" --query-gpu=utilization.gpu "*) cat "$D/gpu-util.txt" 2>/dev/null || echo 0 ;;
      *" --query-gpu="*) echo "Tesla P100-PCIE-16GB, 580.00" ;;
      *) echo "NVIDIA-SMI 580.00" ;;
    esac
    ;;
  install-driver.sh) : >"$D/driver-installed" ;;
  getent)
    [[ ${1-} == passwd ]] || exit 2
    touch "$D/passwd"
    if (($# == 1)); then
      cat "$D/passwd"
    else
      awk -F: -v n="$2" '$1 == n { print; found = 1; exit } END { exit !found }' "$D/passwd" || exit 2
    fi
    ;;
  useradd)
    user=${!#}
    home=""
    while (($#)); do
      if [[ $1 == --home-dir ]]; then home=$2; fi
      shift
    done
    touch "$D/passwd"
    uid=$((1000 + $(awk -F: '$3 >= 1000' "$D/passwd" | wc -l)))
    printf '%s:x:%s:%s::%s:/bin/bash\n' "$user" "$uid" "$uid" "$home" >>"$D/passwd"
    mkdir -p "$home"
    ;;
  lspci) cat "$D/lspci.txt" 2>/dev/null || true ;;
  who) cat "$D/who.txt" 2>/dev/null || true ;;
  # Must not be reached in these tests: failing makes an unexpected call visible.
  ubuntu-drivers | apt-get) exit 1 ;;
  # systemctl, chown, shutdown, modprobe: recorded only.
  *) ;;
esac
exit 0
