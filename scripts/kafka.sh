#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller in one JVM) for local dev and CI.
#
# The jars come from Maven Central (scripts/kafka/pom.xml) and are cached under
#   ${OMNIGATE_CACHE_DIR:-$HOME/.cache/omnigate}/kafka-<version>/libs
# Runtime state (data, pid, broker.log, generated configs) lives in
#   ${OMNIGATE_CACHE_DIR:-$HOME/.cache/omnigate}/kafka-<version>/run
# (run-<port> when KAFKA_PORT is not 9092). Every start from the stopped state
# begins with an empty cluster.
#
# Usage: scripts/kafka.sh install|start|stop|status|restart|run <class> [args...]
#   install   fetch the jars into the cache (no-op when already cached)
#   start     install if needed, start the broker, return once it serves requests;
#             if a Kafka broker already answers on KAFKA_PORT it is reused (exit 0)
#   stop      stop the broker started by this script and wait for the process to exit
#   status    print "running" and exit 0 if a Kafka broker answers on KAFKA_PORT, else exit 1
#   restart   stop, then start (with fresh, empty data)
#   run       run a Kafka CLI class on the cached classpath, e.g.
#             scripts/kafka.sh run org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_START_TIMEOUT (90 s),
#   KAFKA_LOG_LEVEL (WARN; root log4j level of the broker), KAFKA_HEAP_OPTS (-Xms256m -Xmx768m),
#   OMNIGATE_CACHE_DIR, JAVA_HOME / JAVA.
# An extra SASL_SSL listener with SCRAM, for the client's TLS and SASL settings (off unless
#   KAFKA_SASL_SSL_PORT is set; the PLAINTEXT listener stays, for readiness and test set-up):
#   KAFKA_SASL_SSL_PORT, KAFKA_SSL_KEYSTORE_PEM (one PEM file: the broker's unencrypted PKCS#8
#   key and its certificate chain), KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD (created for
#   SCRAM-SHA-256 and SCRAM-SHA-512 when the storage is formatted).
set -euo pipefail

# Keep in step with the default of <kafka.version> in scripts/kafka/pom.xml.
KAFKA_VERSION="3.9.1"

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_HOST="127.0.0.1"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-WARN}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
[[ "$KAFKA_PORT" =~ ^[0-9]+$ && "$KAFKA_CONTROLLER_PORT" =~ ^[0-9]+$ ]] ||
  { echo "kafka: error: KAFKA_PORT and KAFKA_CONTROLLER_PORT must be numbers" >&2; exit 1; }
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
  [[ "$KAFKA_SASL_SSL_PORT" =~ ^[0-9]+$ ]] ||
    { echo "kafka: error: KAFKA_SASL_SSL_PORT must be a number" >&2; exit 1; }
  [[ -f "${KAFKA_SSL_KEYSTORE_PEM:-}" && -n "${KAFKA_SCRAM_USER:-}" && -n "${KAFKA_SCRAM_PASSWORD:-}" ]] ||
    { echo "kafka: error: KAFKA_SASL_SSL_PORT needs KAFKA_SSL_KEYSTORE_PEM (a file), KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD" >&2; exit 1; }
  # StorageTool reads the credential as [name=…,password=…]: keep those characters out of it.
  [[ "$KAFKA_SCRAM_USER$KAFKA_SCRAM_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] ||
    { echo "kafka: error: KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD: letters, digits, . _ - only" >&2; exit 1; }
fi

CACHE_ROOT="${OMNIGATE_CACHE_DIR:-${HOME:-/tmp}/.cache/omnigate}"
KAFKA_HOME_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS_DIR="$KAFKA_HOME_DIR/libs"
LIBS_MARKER="$LIBS_DIR/.complete"
# One run dir per broker port, so a second broker on another KAFKA_PORT never touches
# the default one.
if [[ "$KAFKA_PORT" == "9092" ]]; then
  RUN_DIR="$KAFKA_HOME_DIR/run"
else
  RUN_DIR="$KAFKA_HOME_DIR/run-$KAFKA_PORT"
fi
DATA_DIR="$RUN_DIR/data"
PID_FILE="$RUN_DIR/kafka.pid"
BROKER_LOG="$RUN_DIR/broker.log"
SERVER_PROPS="$RUN_DIR/server.properties"
BROKER_LOG4J="$RUN_DIR/log4j.properties"
TOOLS_LOG4J="$KAFKA_HOME_DIR/tools-log4j.properties"
TOOLS_CLIENT_PROPS="$KAFKA_HOME_DIR/tools-client.properties"
LOCK_FILE="$KAFKA_HOME_DIR/.lock"

if [[ -n "${JAVA:-}" ]]; then
  :
elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="java"
fi

log() { echo "kafka: $*" >&2; }
die() {
  echo "kafka: error: $*" >&2
  exit 1
}

# --- helpers -----------------------------------------------------------------

pom_checksum() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ready() {
  [[ -f "$LIBS_MARKER" ]] && [[ "$(cat "$LIBS_MARKER")" == "$KAFKA_VERSION $(pom_checksum)" ]]
}

# Serialise install/start/stop between concurrent invocations (e.g. parallel CI steps).
take_lock() {
  mkdir -p "$KAFKA_HOME_DIR"
  if command -v flock > /dev/null 2>&1; then
    exec 9> "$LOCK_FILE"
    flock -w 300 9 || die "timed out waiting for $LOCK_FILE"
  fi
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$KAFKA_HOST/$1" > /dev/null 2>&1; }

# Sends a raw ApiVersions v0 request and checks for a well-formed, error-free reply
# (correlation id 1, error_code 0). Cheap enough to poll; needs no JVM.
kafka_answers() {
  local reply
  # shellcheck disable=SC2016 # expanded by the inner shell
  reply="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    # size=10 | api_key=18 (ApiVersions) | api_version=0 | correlation_id=1 | client_id=""
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00" >&3
    head -c 10 <&3 | od -An -v -tx1
  ' "$KAFKA_HOST" "$KAFKA_PORT" 2> /dev/null | tr -d ' \n')" || return 1
  # 4-byte size (any), correlation id 00000001, error code 0000
  [[ "$reply" =~ ^[0-9a-f]{8}000000010000$ ]]
}

# pid of the broker this script started, if it is still alive.
our_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE" 2> /dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || { kill -0 "$pid" 2> /dev/null || return 1; }
  if [[ -r "/proc/$pid/cmdline" ]]; then
    # Guard against a recycled pid: it must be our kafka.Kafka with our config.
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $SERVER_PROPS" || return 1
  fi
  echo "$pid"
}

# The SASL_SSL listener's settings (nothing when KAFKA_SASL_SSL_PORT is unset).
sasl_ssl_configs() {
  [[ -n "$KAFKA_SASL_SSL_PORT" ]] || return 0
  local mechanism
  echo "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512"
  echo "listener.name.sasl_ssl.ssl.keystore.type=PEM"
  echo "listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_SSL_KEYSTORE_PEM"
  for mechanism in scram-sha-256 scram-sha-512; do
    echo "listener.name.sasl_ssl.$mechanism.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  done
}

write_configs() {
  local listeners="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    listeners="$listeners,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  mkdir -p "$RUN_DIR"
  cat > "$SERVER_PROPS" << EOF
# Generated by scripts/kafka.sh — overwritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=$listeners,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$DATA_DIR
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  sasl_ssl_configs >> "$SERVER_PROPS"

  cat > "$BROKER_LOG4J" << EOF
# Generated by scripts/kafka.sh. stdout is redirected to broker.log.
log4j.rootLogger=$KAFKA_LOG_LEVEL, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# "Kafka Server started" comes from here; start waits for it.
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

write_tool_configs() {
  mkdir -p "$KAFKA_HOME_DIR"
  cat > "$TOOLS_LOG4J.$$" << 'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
  mv -f "$TOOLS_LOG4J.$$" "$TOOLS_LOG4J"
  # Client settings for the readiness probe: fail fast, the caller retries.
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' > "$TOOLS_CLIENT_PROPS.$$"
  mv -f "$TOOLS_CLIENT_PROPS.$$" "$TOOLS_CLIENT_PROPS"
}

# Short-lived JVM for the Kafka CLI classes.
kafka_tool() {
  [[ -f "$TOOLS_LOG4J" && -f "$TOOLS_CLIENT_PROPS" ]] || write_tool_configs
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$LIBS_DIR/*" "$@"
}

# --- install -----------------------------------------------------------------

do_install() {
  libs_ready && return 0
  take_lock
  libs_ready && return 0
  command -v mvn > /dev/null 2>&1 || die "mvn not found (install Maven, e.g. apt-get install maven)"
  local started tmp
  started=$SECONDS
  log "downloading Kafka $KAFKA_VERSION jars from Maven Central…"
  tmp="$KAFKA_HOME_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  # --file: run from any cwd; the pom writes nothing next to itself (libs dir is overridden).
  if ! mvn -B --no-transfer-progress -Dstyle.color=never -f "$POM" package \
    -Dkafka.version="$KAFKA_VERSION" -Dkafka.libs.dir="$tmp" > "$KAFKA_HOME_DIR/maven.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 40 "$KAFKA_HOME_DIR/maven.log" >&2
    die "Maven could not fetch the Kafka jars (full log: $KAFKA_HOME_DIR/maven.log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after download"; }
  echo "$KAFKA_VERSION $(pom_checksum)" > "$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  log "installed $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $LIBS_DIR ($((SECONDS - started)) s)"
}

# --- start / stop ------------------------------------------------------------

fail_start() {
  local pid
  log "error: $*"
  if [[ -f "$BROKER_LOG" ]]; then
    echo "---- last 40 lines of $BROKER_LOG ----" >&2
    tail -n 40 "$BROKER_LOG" >&2 || true
    echo "----" >&2
  fi
  if pid="$(our_pid)"; then
    log "stopping the half-started broker (pid $pid)"
    kill -KILL "$pid" 2> /dev/null || true
    while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  exit 1
}

# Waits until the broker serves requests: ApiVersions answered, "Kafka Server started"
# logged (the broker is unfenced by then), and the Admin API lists topics.
wait_ready() {
  local pid="$1" deadline
  deadline=$(($2 + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2> /dev/null || fail_start "broker process $pid exited during startup"
    if grep -qF "Kafka Server started" "$BROKER_LOG" 2> /dev/null && kafka_answers; then
      if kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --command-config "$TOOLS_CLIENT_PROPS" --list > /dev/null 2>> "$RUN_DIR/readiness.log"; then
        return 0
      fi
    fi
    sleep 0.5
  done
  fail_start "broker not ready on $BOOTSTRAP after ${KAFKA_START_TIMEOUT} s"
}

do_start() {
  local started=$SECONDS pid cluster_id
  if kafka_answers; then
    log "a broker already answers on $BOOTSTRAP; reusing it"
    return 0
  fi
  do_install
  take_lock
  if kafka_answers; then # another invocation started it while we waited for the lock
    log "a broker already answers on $BOOTSTRAP; reusing it"
    return 0
  fi

  if pid="$(our_pid)"; then
    # Started by another invocation that has not finished starting yet.
    log "broker (pid $pid) is starting; waiting for it"
    wait_ready "$pid" "$started"
    log "broker ready on $BOOTSTRAP ($((SECONDS - started)) s)"
    return 0
  fi
  rm -f "$PID_FILE"

  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT is in use by something that is not a Kafka broker (set KAFKA_PORT)"
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "controller port $KAFKA_CONTROLLER_PORT is in use (set KAFKA_CONTROLLER_PORT)"
  fi
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]] && port_open "$KAFKA_SASL_SSL_PORT"; then
    die "SASL_SSL port $KAFKA_SASL_SSL_PORT is in use (set KAFKA_SASL_SSL_PORT)"
  fi

  write_configs
  # Fresh, empty cluster on every start from the stopped state.
  rm -rf "$DATA_DIR" "$RUN_DIR/readiness.log"
  [[ -f "$BROKER_LOG" ]] && mv -f "$BROKER_LOG" "$BROKER_LOG.prev"
  : > "$BROKER_LOG"

  # A KRaft cluster id is a 16-byte UUID in URL-safe base64 without padding (what
  # `kafka-storage random-uuid` prints); Kafka rejects ids starting with '-'.
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  # SCRAM users live in the cluster metadata; KRaft creates them when the storage is formatted.
  local scram_users=()
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    scram_users=(
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]"
    )
  fi
  if ! kafka_tool kafka.tools.StorageTool format --cluster-id="$cluster_id" \
    --config "$SERVER_PROPS" "${scram_users[@]}" > "$RUN_DIR/format.log" 2>&1; then
    cat "$RUN_DIR/format.log" >&2
    die "formatting $DATA_DIR failed"
  fi

  log "starting Kafka $KAFKA_VERSION on $BOOTSTRAP (controller :$KAFKA_CONTROLLER_PORT)…"
  # setsid + nohup: the broker outlives this script, its terminal and its process group.
  # The inner shell writes its own pid and then execs java, so the pid file is the JVM.
  # shellcheck disable=SC2086,SC2016
  setsid nohup bash -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
    "$JAVA" $KAFKA_HEAP_OPTS \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$BROKER_LOG4J" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$SERVER_PROPS" \
    < /dev/null >> "$BROKER_LOG" 2>&1 9>&- &

  for _ in $(seq 1 50); do
    pid="$(our_pid)" && break
    sleep 0.1
  done
  [[ -n "${pid:-}" ]] || fail_start "broker process did not start"

  wait_ready "$pid" "$started"
  log "broker ready on $BOOTSTRAP ($((SECONDS - started)) s, pid $pid, log $BROKER_LOG)"
}

do_stop() {
  local pid
  take_lock
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    if kafka_answers; then
      log "the broker on $BOOTSTRAP was not started by this script; leaving it alone"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping broker (pid $pid)…"
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 1 300); do # controlled shutdown, up to 30 s
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2> /dev/null; then
    log "broker did not exit within 30 s; killing it"
    kill -KILL "$pid" 2> /dev/null || true
    while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

do_status() {
  if kafka_answers; then
    echo "running"
    return 0
  fi
  echo "not running"
  return 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  restart)
    do_stop
    do_start
    ;;
  run)
    [[ $# -gt 0 ]] || usage
    do_install
    kafka_tool "$@"
    ;;
  *) usage ;;
esac
