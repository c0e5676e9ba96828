# Shared by ops/test and ops/postgres: find or install PostgreSQL 15, and run a cluster on loopback.
# Sourced, not executed. Functions print progress on stderr and set variables for the caller.

PG_MAJOR=15

log() { printf '%s\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "error: '$*' needs root and sudo is not available"; return 1; fi
}

apt_install() {
  log "installing with apt-get: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Sets PG_BIN to the directory holding initdb, pg_ctl, postgres and pg_dump, installing PostgreSQL 15 if needed.
ensure_postgres() {
  PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
  if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ] || [ ! -x "$PG_BIN/pg_dump" ]; then
    apt_install "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR"
  fi
  [ -x "$PG_BIN/initdb" ] || { log "error: PostgreSQL $PG_MAJOR binaries not found in $PG_BIN after installing"; return 1; }
  export PG_BIN
}

# The SQLite headers GRDB compiles against.
ensure_sqlite_dev() {
  [ -f /usr/include/sqlite3.h ] || apt_install libsqlite3-dev
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a PostgreSQL binary as the cluster's OS user: initdb refuses root, so root uses the 'postgres' account.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { log "error: running as root needs the 'postgres' OS user (created by the postgresql package)"; return 1; }
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# init_cluster DIR AUTH: a new cluster in DIR whose superuser is 'postgres'; AUTH is trust or scram-sha-256
# (then PG_SUPERUSER_PASSWORD must be set). Only loopback connections are accepted either way.
init_cluster() {
  local dir=$1 auth=$2
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  local pwfile=()
  if [ "$auth" != trust ]; then
    local pw="$dir.pw"
    ( umask 077; printf '%s\n' "$PG_SUPERUSER_PASSWORD" > "$pw" )
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pw"
    pwfile=(--pwfile="$pw")
  fi
  pg_as_owner "$PG_BIN/initdb" -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 --auth-host="$auth" --auth-local=trust "${pwfile[@]}" >/dev/null
  [ ${#pwfile[@]} -gt 0 ] && rm -f "$dir.pw"
  return 0
}

# start_cluster DIR PORT [extra postgres -c settings…]: starts it on 127.0.0.1:PORT and waits until it accepts connections.
start_cluster() {
  local dir=$1 port=$2; shift 2
  local opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir"
  for setting in "$@"; do opts="$opts -c $setting"; done
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -o "$opts" -l "$dir/server.log" -w -t 60 start >/dev/null
}

stop_cluster() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m "$mode" -w stop >/dev/null 2>&1 || true
}
