#!/usr/bin/env bash
# The test command (README, and what .ci/run calls): make sure the real
# MariaDB and Redis answer, point the storage tests at them, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

mysql_host=127.0.0.1
mysql_port=3306
redis_port=6379

wait_for() { # what, tries, command...
  local what=$1 tries=$2
  shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not come up"
  return 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; then return 0; fi
  log "Redis is not answering on :$redis_port; starting it"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 sh -c "redis-cli -h 127.0.0.1 -p $redis_port ping | grep -q PONG"
}

mysql_as() { # user, password, sql
  mariadb --protocol=TCP -h "$mysql_host" -P "$mysql_port" -u "$1" ${2:+-p"$2"} -e "$3"
}

ensure_mariadb() {
  if ! mariadb-admin --protocol=TCP -h "$mysql_host" -P "$mysql_port" -uroot ping >/dev/null 2>&1 \
    && ! mariadb-admin ping >/dev/null 2>&1; then
    log "MariaDB is not answering; starting it"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for MariaDB 60 mariadb-admin ping
  fi
  # Root over TCP with an empty password is this machine's default. Where it
  # is refused, create a dedicated user through the local socket instead.
  if mysql_as root "" "SELECT 1"; then
    mysql_user=root mysql_password=""
  else
    log "root over TCP refused; creating user minipay_test through the socket"
    mysql_user=minipay_test mysql_password=minipay_test
    mariadb -e "CREATE USER IF NOT EXISTS 'minipay_test'@'127.0.0.1' IDENTIFIED BY 'minipay_test';
                CREATE USER IF NOT EXISTS 'minipay_test'@'localhost' IDENTIFIED BY 'minipay_test';
                GRANT ALL PRIVILEGES ON *.* TO 'minipay_test'@'127.0.0.1';
                GRANT ALL PRIVILEGES ON *.* TO 'minipay_test'@'localhost';"
    mysql_as "$mysql_user" "$mysql_password" "SELECT 1" >/dev/null
  fi
  mysql_as "$mysql_user" "$mysql_password" \
    "CREATE DATABASE IF NOT EXISTS minipay_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" >/dev/null
  # Each test suite creates its own minipay_* database and migrates it. A
  # database left by an earlier run may hold migrations this checkout does
  # not have (sqlx refuses it), so every run starts from none.
  local stale
  stale=$(mariadb --protocol=TCP -h "$mysql_host" -P "$mysql_port" -u "$mysql_user" \
    ${mysql_password:+-p"$mysql_password"} -N -e \
    "SELECT schema_name FROM information_schema.schemata
     WHERE schema_name LIKE 'minipay\\_%' AND schema_name <> 'minipay_test'")
  for db in $stale; do
    mysql_as "$mysql_user" "$mysql_password" "DROP DATABASE \`$db\`" >/dev/null
  done
}

ensure_redis
ensure_mariadb

# Storage tests read these; set but unreachable is a failure, never a skip.
export MINIPAY_TEST_REDIS_URL="${MINIPAY_TEST_REDIS_URL:-redis://127.0.0.1:$redis_port/}"
export MINIPAY_TEST_MYSQL_URL="${MINIPAY_TEST_MYSQL_URL:-mysql://$mysql_user${mysql_password:+:$mysql_password}@$mysql_host:$mysql_port/minipay_test}"
log "MariaDB and Redis answer; running the tests"

cargo test --workspace --locked "$@"
