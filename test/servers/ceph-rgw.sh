#!/usr/bin/env bash
# ceph-rgw.sh: s3sync's throwaway single-node Ceph cluster with an S3 endpoint (RADOS Gateway), for its tests.
#
#   ceph-rgw.sh start DIR PORT    start it (or reuse a running one) with all state under DIR; S3 on
#                                 http://127.0.0.1:PORT. Prints shell exports on stdout and returns
#                                 only once S3 answers:  eval "$(ceph-rgw.sh start /tmp/s3 7480)"
#   ceph-rgw.sh stop DIR [--keep] stop the daemons started for DIR (by the PIDs in DIR/run) and remove
#                                 the files this script made in DIR (with --keep, keep them).
#   ceph-rgw.sh env DIR           print the exports again.
#   ceph-rgw.sh status DIR        exit 0 if all three daemons run and S3 answers.
#
# One ceph-mon, one ceph-osd (memstore by default: objects live in the OSD's RAM) and one radosgw (beast),
# all as plain background daemons, everything bound to 127.0.0.1, no systemd, no /etc/ceph, no cephx.
# Debian 12 packages ceph-mon ceph-osd radosgw ceph-common (Ceph 16.2.15 "Pacific") are installed with
# apt-get when missing (root, or sudo).
#
# Environment knobs (optional):
#   CEPH_RGW_ACCESS_KEY / CEPH_RGW_SECRET_KEY   keys of the S3 user (defaults below)
#   CEPH_RGW_STORE         OSD object store: memstore (default; data in RAM, ~1.2 s start) or bluestore
#                          (data in a sparse file DIR/osd/ceph-0/block, ~5.5 s start)
#   CEPH_RGW_SIZE_GB       capacity the OSD reports (default 8; writes stall once ~95% of it is used)
#   CEPH_RGW_TIMEOUT       seconds to wait for each phase (default 120)
#   CEPH_RGW_DEBUG         radosgw debug level (default 1: one log line per request in DIR/log)
set -euo pipefail

ACCESS_KEY=${CEPH_RGW_ACCESS_KEY:-CEPHRGWTESTACCESSKEY}
SECRET_KEY=${CEPH_RGW_SECRET_KEY:-cephrgwtestsecretkey0000000000000000000}
SIZE_GB=${CEPH_RGW_SIZE_GB:-8}
TIMEOUT=${CEPH_RGW_TIMEOUT:-120}
RGW_DEBUG=${CEPH_RGW_DEBUG:-1}
STORE=${CEPH_RGW_STORE:-memstore}
OURS=(.ceph-rgw ceph.conf monmap mon osd rgw run log crash env.sh)   # what `stop` removes

die() { echo "ceph-rgw: $*" >&2; exit 1; }
usage() { sed -n '2,10p' "$0" >&2; exit 2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_packages() {
  local missing=()
  command -v ceph-mon >/dev/null 2>&1 || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null 2>&1 || missing+=(ceph-osd)
  command -v radosgw >/dev/null 2>&1 || missing+=(radosgw)
  { command -v ceph >/dev/null 2>&1 && command -v radosgw-admin >/dev/null 2>&1; } || missing+=(ceph-common)
  command -v monmaptool >/dev/null 2>&1 || missing+=(ceph-base)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  [ ${#missing[@]} -eq 0 ] && return 0
  local log; log=$(mktemp)
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q install --no-install-recommends "${missing[@]}")
  if ! as_root "${apt[@]}" >"$log" 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q update >>"$log" 2>&1 || true
    as_root "${apt[@]}" >>"$log" 2>&1 || { tail -20 "$log" >&2; rm -f "$log"; die "apt-get install ${missing[*]} failed"; }
  fi
  rm -f "$log"
}

absdir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# pid of daemon NAME (mon.a, osd.0, client.rgw.a) if it is alive and is ours (its command line names our conf)
live_pid() {
  local f="$D/run/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $D/ceph.conf " || return 1
  echo "$pid"
}

# running and not a zombie (an exited daemon stays a zombie until init reaps it)
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
wait_gone() {  # wait_gone TENTHS PID...: wait up to TENTHS/10 s for all PIDs to exit
  local n=$1 p; shift
  while [ "$n" -gt 0 ]; do
    for p in "$@"; do running "$p" && break; p=; done
    [ -z "${p:-}" ] && return 0
    sleep 0.1; n=$((n - 1))
  done
  return 1
}

port_free() {
  python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

s3_answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$1/" 2>/dev/null; }

fail() {  # fail MSG LOGFILE...
  local l
  echo "ceph-rgw: $1" >&2
  for l in "${@:2}"; do [ -s "$l" ] && { echo "--- tail of $l" >&2; tail -15 "$l" >&2; }; done
  exit 1
}

write_conf() {  # write_conf MONPORT PORT FSID
  local monport=$1 port=$2 fsid=$3
  cat >"$D/ceph.conf" <<EOF
# written by ceph-rgw.sh
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$monport
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
keyring = $D/keyring
run_dir = $D/run
crash_dir = $D/crash
admin_socket = $D/run/\$cluster-\$name.asok
pid_file = $D/run/\$name.pid
log_file = $D/log/\$name.log
mon_cluster_log_file = default=$D/log/\$cluster.\$channel.log cluster=$D/log/\$cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
paxos_propose_interval = 0.05
client_mount_timeout = 60

[mon]
mon_data = $D/mon/\$cluster-\$id

[osd]
osd_data = $D/osd/\$cluster-\$id
osd_objectstore = $STORE
osd_fast_shutdown = false
memstore_device_bytes = $((SIZE_GB * 1024 * 1024 * 1024))
bluestore_block_size = $((SIZE_GB * 1024 * 1024 * 1024))
bluestore_block_create = true
osd_memory_target = 939524096
bluestore_cache_autotune = true

[client.rgw.a]
rgw_data = $D/rgw
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_thread_pool_size = 64
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
debug_rgw = $RGW_DEBUG
EOF
}

print_env() {
  local port; port=$(sed -n 's/^rgw_frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$D/ceph.conf")
  cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
EOF
}

cmd_start() {
  [ $# -eq 2 ] || usage
  local port=$2
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad port: $port"
  ensure_packages
  D=$(absdir "$1")
  local C=(-c "$D/ceph.conf") L="$D/log/setup.log"
  if ! { [ -f "$D/.ceph-rgw" ] && live_pid client.rgw.a >/dev/null && grep -qx "rgw_frontends = beast endpoint=127.0.0.1:$port" "$D/ceph.conf"; }; then
    port_free "$port" || die "127.0.0.1:$port is already in use"
  fi

  if [ ! -f "$D/.ceph-rgw" ]; then
    # ---- bootstrap a new cluster ----
    [ ! -e "$D/ceph.conf" ] || die "$D/ceph.conf exists but was not made by this script"
    mkdir -p "$D"/{mon,osd/ceph-0,rgw,run,log,crash}
    local fsid monport osduuid id
    fsid=$(cat /proc/sys/kernel/random/uuid)
    monport=$(free_port)
    write_conf "$monport" "$port" "$fsid"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$D/monmap" >>"$L" 2>&1 \
      || fail "monmaptool failed" "$L"
    ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" >>"$L" 2>&1 || fail "ceph-mon --mkfs failed" "$L"
    ceph-mon "${C[@]}" -i a >>"$L" 2>&1 || fail "ceph-mon did not start" "$L" "$D/log/mon.a.log"
    osduuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(timeout "$TIMEOUT" ceph "${C[@]}" osd new "$osduuid" 2>>"$L") || fail "ceph osd new failed" "$L" "$D/log/mon.a.log"
    [ "$id" = 0 ] || fail "unexpected osd id '$id'" "$L"
    ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osduuid" >>"$L" 2>&1 || fail "ceph-osd --mkfs failed" "$L"
    ceph-osd "${C[@]}" -i 0 >>"$L" 2>&1 || fail "ceph-osd did not start" "$L" "$D/log/osd.0.log"
    # Every test case makes its own bucket: RGW's default of 1,000 a user is below the suite's count.
    timeout "$TIMEOUT" radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
      --max-buckets=100000 --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$L" 2>&1 \
      || fail "radosgw-admin user create failed (OSD not up?)" "$L" "$D/log/osd.0.log"
    touch "$D/.ceph-rgw"
  else
    # ---- reuse: (re)start what is not running; follow a changed port ----
    if ! grep -qx "rgw_frontends = beast endpoint=127.0.0.1:$port" "$D/ceph.conf"; then
      sed -i "s/^rgw_frontends = .*/rgw_frontends = beast endpoint=127.0.0.1:$port/" "$D/ceph.conf"
      local old; if old=$(live_pid client.rgw.a); then kill "$old"; wait_gone 300 "$old" || kill -KILL "$old"; wait_gone 50 "$old" || true; fi
    fi
    live_pid mon.a >/dev/null || ceph-mon "${C[@]}" -i a >>"$L" 2>&1 || fail "ceph-mon did not start" "$L" "$D/log/mon.a.log"
    live_pid osd.0 >/dev/null || ceph-osd "${C[@]}" -i 0 >>"$L" 2>&1 || fail "ceph-osd did not start" "$L" "$D/log/osd.0.log"
  fi
  if ! live_pid client.rgw.a >/dev/null; then
    # A stale pid file would read as a daemon that exited (below); the new one writes its own.
    rm -f "$D/run/client.rgw.a.pid"
    # radosgw forks early; its child writes the pid file, maybe after the parent has returned
    timeout "$TIMEOUT" radosgw "${C[@]}" -n client.rgw.a >>"$L" 2>&1 \
      || fail "radosgw did not start" "$L" "$D/log/client.rgw.a.log"
  fi
  local t0=$SECONDS
  until s3_answers "$port"; do
    # No pid file yet is a child still starting (on a loaded machine, for a while), not one gone.
    [ ! -f "$D/run/client.rgw.a.pid" ] || live_pid client.rgw.a >/dev/null \
      || fail "radosgw exited" "$D/log/client.rgw.a.log"
    [ $((SECONDS - t0)) -lt "$TIMEOUT" ] || fail "S3 did not answer on port $port" "$D/log/client.rgw.a.log"
    sleep 0.1
  done
  print_env | tee "$D/env.sh"
}

cmd_stop() {
  [ $# -ge 1 ] && [ $# -le 2 ] || usage
  local keep=0; [ "${2:-}" = --keep ] && keep=1
  [ -d "$1" ] || return 0
  D=$(cd "$1" && pwd -P)
  [ -f "$D/.ceph-rgw" ] || [ -f "$D/ceph.conf" ] || return 0
  local n pid pids=()
  for n in client.rgw.a osd.0 mon.a; do pid=$(live_pid "$n") && pids+=("$pid"); done
  if [ "$keep" = 1 ]; then
    # SIGTERM one by one (rgw, osd, mon): the OSD then writes its in-memory store to DIR/osd, and a
    # later `start DIR PORT` finds the buckets again.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait_gone 300 "$pid" || true; done
  fi
  # the data is about to be deleted (or already saved): SIGKILL whatever is left
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait_gone 100 "${pids[@]}" || true
  if [ "$keep" = 0 ]; then
    for n in "${OURS[@]}"; do rm -rf "${D:?}/$n"; done
    rmdir "$D" 2>/dev/null || true
  fi
}

cmd_env() { [ $# -eq 1 ] || usage; D=$(cd "$1" && pwd -P); [ -f "$D/ceph.conf" ] || die "no cluster in $1"; print_env; }

cmd_status() {
  [ $# -eq 1 ] || usage
  D=$(cd "$1" 2>/dev/null && pwd -P) || return 1
  local n port
  for n in mon.a osd.0 client.rgw.a; do live_pid "$n" >/dev/null || { echo "$n not running" >&2; return 1; }; done
  port=$(sed -n 's/^rgw_frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$D/ceph.conf")
  s3_answers "$port" || { echo "S3 on port $port does not answer" >&2; return 1; }
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  env) shift; cmd_env "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) usage ;;
esac
