#!/usr/bin/env bash
# The course scenario end to end on labctl's local emulator (no Google Cloud account needed):
# start the emulator, create a CPU VM and a GPU VM (its zone is stocked out, so labctl fails
# over), list, stop, move data through a bucket, delete everything, stop the emulator.
# Run it through `bash scripts/dev.sh demo`, which installs labctl first.
set -euo pipefail

WORK="$(mktemp -d "${TMPDIR:-/tmp}/labctl-demo.XXXXXX")"
EMULATOR_PID=""
export LABCTL_CONFIG_DIR="$WORK/config"   # the demo never touches your own labctl settings
export CLOUDSDK_CONFIG="$WORK/gcloud"     # ... nor your gcloud settings
export LABCTL_OWNER="alice@example.edu"
# No real credentials are used; make google-auth's metadata probe fail at once, locally.
export GCE_METADATA_HOST=127.0.0.1:9 GCE_METADATA_IP=127.0.0.1:9
unset GOOGLE_APPLICATION_CREDENTIALS

cleanup() {
  local rc=$?
  if [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
    kill "$EMULATOR_PID"
    for _ in $(seq 1 50); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$EMULATOR_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

cat > "$WORK/faults.yaml" <<'YAML'
# us-central1-c has no P100 capacity today: the GPU VM must land elsewhere.
stockouts:
  - zone: us-central1-c
    accelerator: nvidia-tesla-p100
YAML

echo "starting the emulator (Compute Engine + Cloud Storage on 127.0.0.1)"
labctl emulator start --port 0 --storage-port 0 --faults "$WORK/faults.yaml" \
  >"$WORK/exports.sh" 2>"$WORK/emulator.log" &
EMULATOR_PID=$!
for _ in $(seq 1 100); do
  grep -q STORAGE_EMULATOR_HOST "$WORK/exports.sh" 2>/dev/null && break
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log" >&2; exit 1; }
  sleep 0.1
done
grep -q STORAGE_EMULATOR_HOST "$WORK/exports.sh" || { echo "emulator did not start" >&2; exit 1; }
# shellcheck disable=SC1091  # written by the emulator a moment ago
source "$WORK/exports.sh"

step labctl vm create alice-cpu --no-gpu --standard
step labctl vm create alice-gpu --gpu
step labctl vm list
if command -v gcloud >/dev/null 2>&1; then
  # The same emulator answers gcloud: what labctl created, gcloud lists.
  step gcloud compute instances list --format="table(name,zone.basename(),status)"
fi
step labctl vm stop alice-gpu
step labctl vm show alice-gpu

mkdir -p "$WORK/data/images"
printf 'epoch,loss\n1,0.9\n2,0.5\n' >"$WORK/data/results.csv"
head -c 3000000 /dev/urandom >"$WORK/data/images/sample.bin"
step labctl bucket create --prefix "cloud-course-alice"
BUCKET="$(labctl bucket list --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')"
step labctl bucket upload "$WORK/data" "gs://$BUCKET/run1"
step labctl bucket ls "gs://$BUCKET/run1"
step labctl bucket download "gs://$BUCKET/run1/data/results.csv" "$WORK/results-copy.csv"
cmp "$WORK/data/results.csv" "$WORK/results-copy.csv"
step labctl bucket delete "$BUCKET" --force --yes

step labctl vm delete alice-cpu alice-gpu --yes
step labctl vm list

echo
echo "stopping the emulator"
kill "$EMULATOR_PID"
for _ in $(seq 1 50); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$EMULATOR_PID" 2>/dev/null; then echo "emulator did not stop" >&2; exit 1; fi
EMULATOR_PID=""
echo "demo finished: nothing left running"
