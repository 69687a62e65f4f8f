#!/usr/bin/env bash
# postgres.sh starts the machine's Debian PostgreSQL 15 for the store tests and
# prints the DSN to put in RAYFLEET_TEST_POSTGRES as its last line of stdout:
#
#   export RAYFLEET_TEST_POSTGRES="$(scripts/postgres.sh | tail -n1)"
#
# It is idempotent: run it again and it leaves a running server, the role and
# the database as they are. Progress goes to stderr so stdout stays the DSN.
# It must run as root (it starts the cluster and uses psql as postgres).
set -euo pipefail

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
ROLE=rayfleet
PASSWORD=rayfleet
DATABASE=rayfleet_test
WAIT_SECONDS=${RAYFLEET_PG_WAIT_SECONDS:-60}
DSN="postgres://${ROLE}:${PASSWORD}@127.0.0.1:${PG_PORT}/${DATABASE}?sslmode=disable"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run me as root: I start the PostgreSQL cluster and run psql as the postgres user"
for tool in pg_lsclusters pg_ctlcluster pg_createcluster pg_isready psql; do
	command -v "$tool" >/dev/null || die "$tool not found; install Debian's postgresql-${PG_VERSION} (apt-get install postgresql-${PG_VERSION})"
done
[[ -x /usr/lib/postgresql/${PG_VERSION}/bin/postgres ]] ||
	die "PostgreSQL ${PG_VERSION} is not installed (no /usr/lib/postgresql/${PG_VERSION}/bin/postgres); apt-get install postgresql-${PG_VERSION}"

# as_postgres runs a command as the postgres user from a directory it can read,
# so psql does not warn about root's home.
as_postgres() {
	if command -v runuser >/dev/null; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
	fi
}

# cluster_status prints the Status column of pg_lsclusters for our cluster,
# or nothing when the cluster does not exist.
cluster_status() {
	pg_lsclusters --no-header 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $4 }'
}

# A machine image may ship the package without the cluster (or with it
# removed); create it so the script works from scratch.
if [[ -z $(cluster_status) ]]; then
	log "creating cluster ${PG_VERSION}/${PG_CLUSTER}"
	pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port="$PG_PORT" >&2 ||
		[[ -n $(cluster_status) ]] || die "pg_createcluster ${PG_VERSION} ${PG_CLUSTER} failed"
fi

port=$(pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $3 }')
[[ $port == "$PG_PORT" ]] ||
	die "cluster ${PG_VERSION}/${PG_CLUSTER} listens on port ${port}, not ${PG_PORT}; set port = ${PG_PORT} in /etc/postgresql/${PG_VERSION}/${PG_CLUSTER}/postgresql.conf"

# The socket directory lives on /run, which a fresh container may not have.
install -d -o postgres -g postgres -m 2775 /var/run/postgresql

case $(cluster_status) in
online*) log "cluster ${PG_VERSION}/${PG_CLUSTER} is already running" ;;
*)
	log "starting cluster ${PG_VERSION}/${PG_CLUSTER}"
	# Another caller may start it at the same moment; only a cluster that is
	# still down afterwards is a failure.
	if ! pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2; then
		case $(cluster_status) in
		online*) ;;
		*) die "pg_ctlcluster ${PG_VERSION} ${PG_CLUSTER} start failed; see /var/log/postgresql/postgresql-${PG_VERSION}-${PG_CLUSTER}.log" ;;
		esac
	fi
	;;
esac

log "waiting up to ${WAIT_SECONDS}s for connections on 127.0.0.1:${PG_PORT}"
deadline=$((SECONDS + WAIT_SECONDS))
until pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; do
	((SECONDS < deadline)) ||
		die "PostgreSQL did not accept connections on 127.0.0.1:${PG_PORT} within ${WAIT_SECONDS}s; see /var/log/postgresql/postgresql-${PG_VERSION}-${PG_CLUSTER}.log"
	sleep 0.5
done

psql_admin() {
	as_postgres psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"
}

# The role: create it, or make sure an existing one can log in with the
# expected password. A DO block makes the check-and-create one statement.
psql_admin >&2 <<SQL || die "could not create or update role ${ROLE}"
DO \$\$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN
		CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}';
	ELSE
		ALTER ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}';
	END IF;
EXCEPTION WHEN duplicate_object THEN
	-- created by a concurrent run of this script
	NULL;
END
\$\$;
SQL

# CREATE DATABASE cannot run inside a DO block, so check first and tolerate a
# concurrent run creating it in between.
db_exists() {
	[[ $(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'") == 1 ]]
}
if ! db_exists; then
	log "creating database ${DATABASE}"
	psql_admin -c "CREATE DATABASE ${DATABASE} OWNER ${ROLE}" >&2 || db_exists ||
		die "could not create database ${DATABASE}"
fi
psql_admin -c "ALTER DATABASE ${DATABASE} OWNER TO ${ROLE}" >&2 ||
	die "could not make ${ROLE} the owner of ${DATABASE}"

# Prove the DSN works as the tests will use it: over TCP with the password.
PGPASSWORD=$PASSWORD psql --no-psqlrc -X -q -tA -h 127.0.0.1 -p "$PG_PORT" -U "$ROLE" -d "$DATABASE" -c 'SELECT 1' >/dev/null ||
	die "cannot log in as ${ROLE} to ${DATABASE} on 127.0.0.1:${PG_PORT}; check /etc/postgresql/${PG_VERSION}/${PG_CLUSTER}/pg_hba.conf allows scram-sha-256 from 127.0.0.1"

log "ready"
echo "$DSN"
