#!/usr/bin/env bash
# Checks that what the guide (docs/guide/*.md) cites still exists, so that a
# refactor cannot silently break it. Outside fenced code blocks (commands and
# captured traces are checked by running them), it looks at every inline code
# span and every relative link:
#   - a path (`src/load/conn.rs`, `examples/mini_echo.rs`, `src/protocol/`)
#     must exist; names after it (`src/load/conn.rs: connect_outcome`,
#     `file: Type::method, other`) must each be a word of that file's code;
#   - a file name alone (`tcp.rs`) must name a file somewhere in the tree;
#   - an identifier (`read_some`, `Conns::push_ready`, `OutBuf`, `UDP_BATCH`,
#     the name before `(` in `Session::feed(..)`) must have every `::`
#     segment appear as a word in the code of src/, examples/, tests/ or
#     benches/ (comments do not count: a renamed function must not live on
#     through a comment that still names it);
#   - a flag (`--udp-buffer`) must be one of sockloop's (a clap field
#     `udp_buffer` in src/);
#   - a relative link ([..](../load-testing.md#anchor)) must point at a file.
# Names from outside the tree (kernel functions, socket options, man pages,
# Python) are listed in EXTERNAL below, each once.
#
# Fails (exit status 1) with one line per broken citation, `FILE:LINE: ...`.
# Usage: scripts/check-guide.sh [-v] [ROOT]   (-v: also list what was checked)
set -euo pipefail
verbose=0
if [[ "${1:-}" == "-v" ]]; then
    verbose=1
    shift
fi
root="${1:-$(dirname "$0")/..}"
VERBOSE="$verbose" python3 - "$root" <<'PY'
import os, re, sys

ROOT = sys.argv[1]
VERBOSE = os.environ.get("VERBOSE") == "1"
GUIDE = os.path.join(ROOT, "docs", "guide")
CODE_DIRS = ["src", "examples", "tests", "benches"]
TREE_DIRS = CODE_DIRS + ["scripts", "docs", ".ci"]

# Not sockloop's names: the guide cites them, the tree only calls some of
# them (or names them in comments). A name here is never checked.
EXTERNAL = set("""
    EAGAIN EINTR EINPROGRESS EADDRNOTAVAIL ECONNREFUSED ECONNRESET ENOTCONN EMFILE
    EPOLLET EPOLLIN EPOLLOUT EPOLLRDHUP EPOLLPRI EPOLLERR
    SA_RESTART SO_RCVBUF SO_SNDBUF SO_ERROR SO_REUSEPORT SO_OOBINLINE SO_RXQ_OVFL
    SO_MEMINFO SOCK_NOSPACE MSG_OOB IP_BIND_ADDRESS_NO_PORT TCP_NODELAY
    TFD_TIMER_ABSTIME CLOCK_MONOTONIC RLIMIT_NOFILE PR_SET_PDEATHSIG
    TIME_WAIT FIN_WAIT1 FIN_WAIT2 CLOSE_WAIT SYN_SENT
    epoll_wait epoll_ctl epoll_create1 timerfd_settime timerfd_create recv_from
    send_to sk_drops tcp_recvmsg tcp_close tcp_reset tcp_check_space
    inet_csk_listen_stop tcp_migrate_req ip_local_port_range tcp_fin_timeout
    rmem_max wmem_max __udp4_lib_err __udp6_lib_err __sock_recv_cmsgs
    inet_hash_connect tcp_tw_reuse
    pre_exec sendall TypeError Choice TcpOutRsts UdpRcvbufErrors
""".split())
# Flags of other tools that the guide names outside a code block.
EXTERNAL_FLAGS = {"--release", "--example", "--lib", "--test", "--all-targets"}

errors, checked = [], 0


def code_words(path):
    """The words of a Rust (or other) file's code, comments left out."""
    words = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if path.endswith(".rs"):
                line = line.split("//", 1)[0]
            elif path.endswith((".sh", ".py")):
                line = line.split("#", 1)[0] if not line.startswith("#!") else ""
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line))
    return words


def files_under(d):
    for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
        if "/target" in dirpath:
            continue
        for n in names:
            yield os.path.join(dirpath, n)


TREE_WORDS = set()
for d in CODE_DIRS:
    for p in files_under(d):
        if p.endswith(".rs"):
            TREE_WORDS |= code_words(p)
BASENAMES = {os.path.basename(p) for d in TREE_DIRS for p in files_under(d)}
FLAG_FIELDS = {w for w in TREE_WORDS if w.islower()}

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH_RE = re.compile(r"^((?:src|examples|tests|scripts|benches|docs|\.ci)/[\w./-]*)(?::\s*(.+))?$")
NAME_PATH_RE = re.compile(rf"^({IDENT}(?:::{IDENT})*)(?:\(.*\)|!\(.*\))?(?:\s*->.*)?$")


def looks_like_code(name):
    """Whether a bare word is a code identifier rather than prose."""
    if "::" in name or "_" in name.strip("_"):
        return True
    return bool(re.search(r"[a-z][A-Z]", name)) or bool(re.fullmatch(r"[A-Z][a-z0-9]+", name))


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def check_span(where, span):
    global checked
    span = span.strip()
    m = PATH_RE.match(span)
    if m:
        path, names = m.group(1), m.group(2)
        full = os.path.join(ROOT, path)
        checked += 1
        if not os.path.exists(full):
            return fail(where, f"`{span}`: no such file or directory {path}")
        if names:
            if os.path.isdir(full):
                words = set().union(*(code_words(p) for p in files_under(path)))
            else:
                words = code_words(full)
            for name in re.findall(rf"{IDENT}(?:::{IDENT})*", names.split("(")[0]):
                for seg in name.split("::"):
                    if seg not in words and seg not in EXTERNAL:
                        fail(where, f"`{span}`: {path} has no `{seg}`")
        return
    if re.fullmatch(r"[\w.-]+\.(rs|sh|py|c|toml)", span):
        checked += 1
        if span not in BASENAMES:
            fail(where, f"`{span}`: no file of that name in the tree")
        return
    if re.fullmatch(r"--[a-z][a-z0-9-]*", span):
        if span in EXTERNAL_FLAGS:
            return
        checked += 1
        if span[2:].replace("-", "_") not in FLAG_FIELDS:
            fail(where, f"`{span}`: not a sockloop flag (no field `{span[2:].replace('-', '_')}` in src/)")
        return
    m = NAME_PATH_RE.match(span)
    if not m:
        return
    name = m.group(1)
    if not looks_like_code(name) or name in EXTERNAL:
        return
    checked += 1
    for seg in name.split("::"):
        if seg not in TREE_WORDS and seg not in EXTERNAL:
            fail(where, f"`{span}`: no `{seg}` in the code")


for chapter in sorted(os.listdir(GUIDE)):
    if not chapter.endswith(".md"):
        continue
    path = os.path.join(GUIDE, chapter)
    fenced = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced:
                continue
            where = f"docs/guide/{chapter}:{lineno}"
            for span in re.findall(r"`([^`]+)`", line):
                check_span(where, span)
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                checked += 1
                rel = target.split("#", 1)[0]
                if not os.path.exists(os.path.normpath(os.path.join(GUIDE, rel))):
                    fail(where, f"link ({target}): no such file")

if VERBOSE:
    print(f"check-guide: {checked} citations checked")
for e in errors:
    print(e)
sys.stdout.flush()
if errors:
    print(f"check-guide: {len(errors)} broken citation(s) in docs/guide/", file=sys.stderr)
    sys.exit(1)
PY
