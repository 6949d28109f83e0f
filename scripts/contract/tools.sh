# Sourced by the contract checks: installs the pinned tools they use, once, into a cache
# outside the repository ($MAILROOM_TOOLS_DIR, default ~/.cache/mailroom-tools), one
# virtualenv or npm prefix per tool and version, so that a second run installs nothing
# and the tools' dependencies never meet each other's or the system's.

MAILROOM_TOOLS_DIR="${MAILROOM_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mailroom-tools}"

# The versions the contract is checked with. Bump deliberately, and rerun the checks.
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
HEY_API_OPENAPI_TS_VERSION=0.99.0
TYPESCRIPT_VERSION=5.9.3

# python_tool NAME==VERSION [EXTRA...]: prints the bin directory of a virtualenv holding it.
python_tool() {
    local spec=$1 dir
    dir="$MAILROOM_TOOLS_DIR/${spec/==/-}"
    if [ ! -f "$dir/.installed" ]; then
        echo "tools: installing $spec into $dir" >&2
        rm -rf "$dir"
        python3 -m venv "$dir" >&2
        "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
        touch "$dir/.installed"
    fi
    echo "$dir/bin"
}

# node_tools NAME SPEC...: prints a directory whose node_modules holds the npm packages.
node_tools() {
    local name=$1 dir; shift
    dir="$MAILROOM_TOOLS_DIR/$name"
    if [ ! -f "$dir/.installed" ]; then
        echo "tools: installing $* into $dir" >&2
        rm -rf "$dir"
        mkdir -p "$dir"
        (cd "$dir" && echo '{"private": true}' > package.json &&
            npm install --silent --no-audit --no-fund --save-exact "$@" >&2)
        touch "$dir/.installed"
    fi
    echo "$dir"
}
