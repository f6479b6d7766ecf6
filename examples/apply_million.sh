#!/usr/bin/env bash
# Benchmark of a whole migration at scale: convert a synthetic Auth0 export, then plan, apply
# and plan again against `poolsync emulate` (one empty pool), each step timed by /usr/bin/time
# (wall seconds, peak RSS). The export is the one `convert_bench` writes:
#
#   cargo build --release --bins --examples
#   target/release/examples/convert_bench --users 1000000 --only happy   # once, writes the export
#   flock /work/bench.lock examples/apply_million.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
poolsync=target/release/poolsync
dir=target/bench/convert
export_file=$dir/auth0-$users.json
[ -f "$export_file" ] || { echo "no $export_file: run convert_bench --users $users first" >&2; exit 1; }
desired=$dir/apply-desired-$users.json
seed=$dir/apply-empty-pool.json
printf '{"pools":[{"id":"customers","tenant_id":"acme","name":"customers"}],"users":[]}\n' > "$seed"
measure() { local what=$1; shift; /usr/bin/time -f "$what: %e s, peak RSS %M KB" "$@"; }

measure convert "$poolsync" convert auth0 "$export_file" --pool customers -o "$desired" 2>&1 | tail -1
EMULATOR_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export EMULATOR_SECRET
port=$((20000 + RANDOM % 20000))
"$poolsync" emulate --listen "127.0.0.1:$port" --tenant acme --seed "$seed" \
  --client-secret-env poolsync:EMULATOR_SECRET > "$dir/apply-emulator.log" 2>&1 &
emulator=$!
trap 'kill $emulator 2>/dev/null' EXIT
sleep 2
export POOLSYNC_URL=http://127.0.0.1:$port POOLSYNC_TENANT=acme POOLSYNC_CLIENT_ID=poolsync
export POOLSYNC_CLIENT_SECRET=$EMULATOR_SECRET
measure plan "$poolsync" plan --desired "$desired" 2>&1 >/dev/null | tail -1
measure apply "$poolsync" apply --desired "$desired" --auto-approve \
  --journal "$dir/apply-$users.journal.jsonl" 2>&1 | tail -3
measure "plan again" "$poolsync" plan --desired "$desired" 2>&1 | tail -2
echo "emulator: peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$emulator/status")"
rm -f "$desired" "$dir/apply-$users.journal.jsonl"
