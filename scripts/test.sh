#!/usr/bin/env bash
# The README's test command: installs what the tests need where it is missing, then runs
# every test. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
# The packaged etcd unit may start a system etcd on :2379; the tests start their own on
# free ports, so a running one does no harm.

for v in 1.27 1.30 1.33; do
  if [ ! -x "/usr/lib/google-cloud-sdk/bin/kubectl.$v" ]; then
    echo "error: kubectl $v is required at /usr/lib/google-cloud-sdk/bin/kubectl.$v (DESIGN.md §10)" >&2
    exit 1
  fi
done

cargo test --release --workspace --no-fail-fast "$@"
