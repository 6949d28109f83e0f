# Sourced by the contract checks: starts Mailroom in embedded mode (SQLite, job table,
# sandbox mailbox) in a fresh data directory on a free port, and stops it on exit.
#
#   start_server WORKDIR    sets MAILROOM_URL and MAILROOM_ADMIN_TOKEN; the log is WORKDIR/server.log
#   create_account NAME     prints `key_id secret` of a new account's first key (scope *)
#   access_token KEY SECRET prints an access token

MAILROOM_API_BIN="${MAILROOM_API_BIN:-${CARGO_TARGET_DIR:-target}/debug/mailroom-api}"

start_server() {
    local workdir=$1 port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    MAILROOM_URL="http://127.0.0.1:$port"
    MAILROOM_ADMIN_TOKEN="admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    mkdir -p "$workdir/data"
    env -u DATABASE_URL -u AMQP_URL -u SMTP_URL \
        MAILROOM_HTTP_ADDR="127.0.0.1:$port" MAILROOM_DATA_DIR="$workdir/data" \
        MAILROOM_ADMIN_TOKEN="$MAILROOM_ADMIN_TOKEN" RUST_LOG="${RUST_LOG:-warn}" \
        "$MAILROOM_API_BIN" serve >"$workdir/server.log" 2>&1 &
    MAILROOM_SERVER_PID=$!
    trap 'kill "$MAILROOM_SERVER_PID" 2>/dev/null; wait "$MAILROOM_SERVER_PID" 2>/dev/null' EXIT
    for _ in $(seq 1 300); do
        if curl -fsS "$MAILROOM_URL/readyz" >/dev/null 2>&1; then
            export MAILROOM_URL MAILROOM_ADMIN_TOKEN
            return 0
        fi
        if ! kill -0 "$MAILROOM_SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "server: Mailroom did not come up; its log:" >&2
    cat "$workdir/server.log" >&2
    return 1
}

create_account() {
    curl -fsS "$MAILROOM_URL/v1/admin/accounts" -H "authorization: Bearer $MAILROOM_ADMIN_TOKEN" \
        -H 'content-type: application/json' -d "{\"name\": \"$1\"}" |
        python3 -c 'import json, sys; k = json.load(sys.stdin)["api_key"]; print(k["id"], k["secret"])'
}

access_token() {
    curl -fsS "$MAILROOM_URL/v1/auth/token" -H 'content-type: application/json' \
        -d "{\"key_id\": \"$1\", \"secret\": \"$2\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
