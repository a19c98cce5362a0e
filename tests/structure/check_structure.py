#!/usr/bin/env python3
"""Checks the shape of the source tree that docs/architecture.md promises.

  check_structure.py layers SOURCE_DIR
      Every part (src/<part>/, include/mailseal/<part>/) includes only its own
      headers and those of the parts its CMake target names (directly or
      through them); no part includes another part's internal/ headers; no
      public header includes OpenSSL, GMime, GLib, SQLite, cpp-httplib,
      libmicrohttpd or nlohmann; the parts' declared dependencies have no cycle.

  check_structure.py function-size SOURCE_DIR [--max-lines N]
      No function in src/ is longer than N lines (default 120), counted from
      the first line of its declaration to its closing brace, lambdas and
      local classes included.

  check_structure.py owners SOURCE_DIR
      No code in src/ or include/ releases a C library's handle or memory
      (OpenSSL's *_free, SQLite's sqlite3_close/finalize/free, libpq's PQfinish/PQclear, GLib's g_free
      and *_unref, close() of a descriptor) outside the files that define the
      owners: each C handle type has one owner, in one header per library.

  check_structure.py graph SOURCE_DIR
      Prints the parts' dependency graph (Graphviz DOT), as declared in CMake
      and reduced to the edges not implied by others.

  check_structure.py graph-current SOURCE_DIR
      The picture in docs/architecture.md (docs/parts.dot) is the graph the
      build declares; scripts/architecture-graph.sh regenerates it.

  check_structure.py clock SOURCE_DIR
      Only the edges read the clock (common/time.h): the CLI, the key
      service's HTTP server, the gateway's session and its periodic sync; everything else in
      src/ takes `now` from its caller.

Exit status: 0 when the tree holds to the rule, 1 with one line per breach.
"""
import argparse
import pathlib
import re
import sys

CPP_SUFFIXES = {".h", ".cc", ".cpp"}
# Third-party headers that public headers must not include (STYLE.md: public
# headers forward-declare C types; JSON stays inside the library).
FORBIDDEN_IN_PUBLIC = re.compile(r"^(openssl/|gmime/|glib|sqlite3|httplib|microhttpd|nlohmann/|CLI/)")
# The executables' folders: they may use every part.
TOP_LEVEL = {"cli"}

# Where the clock may be read (docs/architecture.md): the edges, and the one
# function that reads it for them.
CLOCK_READERS = ("src/cli/", "src/service/server.cc", "src/gateway/session.cc", "src/gateway/sync_loop.cc", "src/common/time.cc",
                 "src/resident/server.cc")
# A call of a clock: mailseal::now() (or any now()), std::chrono's clocks,
# the C library's and GLib's, and OpenSSL's "now" for certificate dates.
CLOCK_READ = re.compile(r"\bnow\s*\(\s*\)|\btime\s*\(\s*(nullptr|NULL|0|&\s*\w+)\s*\)|\b(gettimeofday|clock_gettime|"
                        r"g_get_real_time|g_date_time_new_now\w*|X509_gmtime_adj|X509_time_adj\w*)\s*\(")

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.MULTILINE)
PART_CALL = re.compile(r"mailseal_part\(\s*(\w+)(.*?)\)", re.DOTALL)


def declared_parts(source: pathlib.Path) -> dict:
    """Part name -> the parts its CMake target names in DEPENDS."""
    parts = {}
    for cmake in sorted((source / "src").glob("*/CMakeLists.txt")):
        for match in PART_CALL.finditer(cmake.read_text()):
            name, arguments = match.group(1), match.group(2).split()
            depends, collecting = [], False
            for word in arguments:
                if word in ("SOURCES", "LIBS", "DEPENDS"):
                    collecting = word == "DEPENDS"
                elif collecting:
                    depends.append(word)
            if cmake.parent.name != name:
                sys.exit(f"{cmake}: part '{name}' lives in a folder of another name")
            parts[name] = depends
    if not parts:
        sys.exit(f"no mailseal_part() found under {source / 'src'}")
    return parts


def find_cycle(parts: dict):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for dep in parts.get(node, []):
            if state.get(dep) == "open":
                return path + [node, dep]
            if dep not in state:
                cycle = visit(dep, path + [node])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in parts:
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def reachable(parts: dict) -> dict:
    closure = {}

    def walk(node):
        if node in closure:
            return closure[node]
        closure[node] = set()
        found = set()
        for dep in parts.get(node, []):
            found.add(dep)
            found |= walk(dep)
        closure[node] = found
        return found

    for node in parts:
        walk(node)
    return closure


def files_of(folder: pathlib.Path):
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in CPP_SUFFIXES)


def part_of_include(path: str, known: set):
    """The part an include names, and whether it is a public header."""
    pieces = path.split("/")
    if len(pieces) >= 3 and pieces[0] == "mailseal" and pieces[1] in known:
        return pieces[1], True
    if len(pieces) >= 2 and (pieces[0] in known or pieces[0] in TOP_LEVEL):
        return pieces[0], False
    return None, None


def check_layers(source: pathlib.Path) -> list:
    parts = declared_parts(source)
    problems = []
    for dep in sorted({d for deps in parts.values() for d in deps} - set(parts)):
        problems.append(f"src/CMakeLists: a part depends on '{dep}', which is not a part")
    cycle = find_cycle(parts)
    if cycle:
        problems.append("the parts' dependencies form a cycle: " + " -> ".join(cycle))
        return problems
    allowed = reachable(parts)
    known = set(parts)
    for folder in sorted((source / "src").iterdir()):
        if folder.is_dir() and folder.name not in known and folder.name not in TOP_LEVEL:
            problems.append(f"src/{folder.name}/ is not a part (no mailseal_part in its CMakeLists.txt)")
    for part in sorted(known | TOP_LEVEL):
        may_use = (known | TOP_LEVEL) if part in TOP_LEVEL else allowed[part] | {part}
        public_folder = source / "include" / "mailseal" / part
        for file in files_of(source / "src" / part) + files_of(public_folder):
            relative = file.relative_to(source)
            is_public = public_folder in file.parents
            for quote, path in INCLUDE.findall(file.read_text(errors="replace")):
                if is_public and FORBIDDEN_IN_PUBLIC.match(path):
                    problems.append(f"{relative}: a public header includes <{path}>")
                if quote != '"':
                    continue
                other, public = part_of_include(path, known)
                if other is None or other == part:
                    continue
                if other not in may_use:
                    problems.append(f"{relative}: part '{part}' includes {path}, but does not depend on '{other}'")
                elif not public and "/internal/" in path:
                    problems.append(f"{relative}: includes {path}, an internal header of part '{other}'")
                elif is_public and not public:
                    problems.append(f"{relative}: a public header includes the private header {path}")
    return problems


# --- Owners of C handles -------------------------------------------------------

# The one header per library that defines the owners, and the files that
# define their deleters out of line (STYLE.md: no other code calls a C free
# function).
OWNER_FILES = {
    "src/common/openssl.h",  # OpenSSL
    "src/common/openssl_handles.cc",
    "include/mailseal/common/openssl_handles.h",
    "include/mailseal/store/sqlite.h",  # SQLite
    "src/store/sqlite_handles.cc",
    "src/mime/internal/gmime.h",  # GMime and GLib
    "include/mailseal/common/unique_fd.h",  # POSIX descriptors
    "src/common/unique_fd.cc",
    "src/service/internal/postgres.h",  # libpq (the key service's PostgreSQL back end)
    "src/service/postgres_handles.cc",
    "src/common/qr_code.cc",  # libqrencode (its only user, owner and deleter in one file)
    "src/clients/internal/nss_handles.h",  # NSS (Thunderbird's saved passwords)
}
# A call (with an argument) that releases a handle, memory or a descriptor.
RELEASE_CALL = re.compile(
    r"(?<![\w.>:])((?:\w+_(?:free|free_all|pop_free|clear_free|unref|unload|finalize))|sqlite3_close\w*"
    r"|PQfinish|PQclear|PQfreemem|PQfreeCancel|(?:::)?close"
    r"|PK11_Free\w+|PK11_DestroyObject|SECITEM_\w*(?:Free|free)\w*|NSS_Shutdown\w*|PORT_Z?Free)"
    r"\s*\(\s*[^)\s]")


def check_owners(source: pathlib.Path) -> list:
    problems = []
    for file in files_of(source / "src") + files_of(source / "include"):
        relative = file.relative_to(source).as_posix()
        if relative in OWNER_FILES:
            continue
        code = blank_out_comments_and_literals(file.read_text(errors="replace"))
        for match in RELEASE_CALL.finditer(code):
            line = code.count("\n", 0, match.start()) + 1
            problems.append(f"{relative}:{line}: calls {match.group(1)}() by hand; hold the handle in its owner "
                            "(src/common/openssl.h, store/sqlite.h, mime/internal/gmime.h, service/internal/postgres.h, "
                            "clients/internal/nss_handles.h, UniqueFd)")
    return problems


# --- Function sizes ----------------------------------------------------------

def blank_out_comments_and_literals(text: str) -> str:
    """The code with comments, strings and characters replaced by spaces
    (newlines kept), so that braces inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delimiter = text[i + 2:open_paren]
            end = text.find(")" + delimiter + '"', open_paren)
            end = n if end < 0 else end + len(delimiter) + 2
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:end]))
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():
                out.append(c)  # a digit separator: 1'000'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


SCOPE_KEYWORD = re.compile(r"\b(namespace|class|struct|union|enum)\b")
NAME_BEFORE_PARAMS = re.compile(r"((?:[A-Za-z_~][\w]*::)*(?:operator\s*[^\s(]+|~?[A-Za-z_]\w*))\s*$")


def top_level_paren(text: str) -> int:
    """Index of the first '(' of the declaration (the parameter list), or -1."""
    depth = 0
    for index, c in enumerate(text):
        if c == "<":
            depth += 1
        elif c == ">" and depth > 0:
            depth -= 1
        elif c == "(" and depth == 0:
            return index
    return text.find("(")


def is_function_head(head: str) -> bool:
    stripped = head.strip()
    if not stripped or "(" not in stripped:
        return False
    before_params = stripped[:top_level_paren(stripped)]
    if SCOPE_KEYWORD.search(before_params) and not before_params.rstrip().endswith("operator"):
        return False
    # An initialiser (`auto x = f(...) {`, `T table[] = {`): '=' outside
    # parentheses and not part of an operator name.
    depth = 0
    for index, c in enumerate(stripped):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "=" and depth == 0:
            window = stripped[max(0, index - 9):index + 2]
            if "operator" not in window and stripped[index + 1:index + 2] != "=" and stripped[index - 1] not in "=!<>":
                return False
    return stripped.rstrip().endswith(")") or re.search(
        r"\)\s*(const|noexcept|override|final|mutable|->[^{]*|:.*|\s)*$", stripped, re.DOTALL) is not None


def is_member_initialiser(head: str) -> bool:
    """True for the brace of `b_{a}` in `C::C(int a) : a_(a), b_{a} {`."""
    stripped = head.rstrip()
    if "(" not in stripped or not re.search(r"[\w>]$", stripped):
        return False
    params = top_level_paren(stripped)
    depth = 0
    for index in range(params, len(stripped)):
        c = stripped[index]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                rest = stripped[index + 1:]
                return re.match(r"\s*(noexcept\s*)?:[^:]", rest) is not None
    return False


def functions_in(text: str):
    """(name, first line, last line) of each function body at namespace or
    class scope."""
    code = blank_out_comments_and_literals(text)
    stack = []  # each: ("scope" | "function" | "block", name, start line)
    head_start = 0  # where the current declaration began
    line = 1
    results = []
    for index, c in enumerate(code):
        if c == "\n":
            line += 1
            continue
        in_function = any(kind == "function" for kind, _, _ in stack)
        if c == "{":
            head = code[head_start:index]
            if in_function:
                stack.append(("block", "", line))
            elif is_member_initialiser(head):
                stack.append(("initialiser", "", line))
                continue  # the constructor's declaration goes on
            elif is_function_head(head):
                stripped = head.strip()
                params = top_level_paren(stripped)
                match = NAME_BEFORE_PARAMS.search(stripped[:params])
                name = match.group(1) if match else stripped[:params].split()[-1:] or ["?"]
                name = name if isinstance(name, str) else name[0]
                first_line = line - head[len(head.rstrip()):].count("\n") - head.strip().count("\n")
                stack.append(("function", name, first_line))
            else:
                stack.append(("scope", "", line))
            head_start = index + 1
        elif c == "}":
            kind = ""
            if stack:
                kind, name, start = stack.pop()
                if kind == "function":
                    results.append((name, start, line))
            if kind != "initialiser":
                head_start = index + 1
        elif c == ";" and not in_function:
            head_start = index + 1
        elif c == ":" and not in_function:
            # `public:`/`private:` labels end a declaration head; `::` and
            # constructor initialiser lists do not.
            before = code[head_start:index].strip()
            if before in ("public", "private", "protected"):
                head_start = index + 1
    return results


def check_function_size(source: pathlib.Path, max_lines: int) -> list:
    problems = []
    for file in files_of(source / "src"):
        for name, first, last in functions_in(file.read_text(errors="replace")):
            length = last - first + 1
            if length > max_lines:
                problems.append(f"{file.relative_to(source)}:{first}: {name} is {length} lines (at most {max_lines})")
    return problems


def graph_of(source: pathlib.Path) -> str:
    parts = declared_parts(source)
    closure = reachable(parts)
    lines = ["digraph mailseal_parts {", '  rankdir=TB; node [shape=box, fontname="sans-serif"];',
             "  cli [style=bold];"]
    for part in sorted(parts):
        if not any(part in parts[other] for other in parts):
            lines.append(f"  cli -> {part};")
    for part, deps in sorted(parts.items()):
        for dep in sorted(deps):
            implied = any(dep in closure[other] for other in deps if other != dep)
            if not implied:
                lines.append(f"  {part} -> {dep};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def check_graph_current(source: pathlib.Path) -> list:
    picture = source / "docs" / "parts.dot"
    if not picture.exists():
        return ["docs/parts.dot is missing: run scripts/architecture-graph.sh"]
    if picture.read_text() != graph_of(source):
        return ["docs/parts.dot differs from the parts the build declares: run scripts/architecture-graph.sh"]
    return []


def check_clock(source: pathlib.Path) -> list:
    problems = []
    for file in files_of(source / "src"):
        name = file.relative_to(source).as_posix()
        if name.startswith(CLOCK_READERS):
            continue
        code = blank_out_comments_and_literals(file.read_text(errors="replace"))
        for match in CLOCK_READ.finditer(code):
            line = code.count("\n", 0, match.start()) + 1
            problems.append(f"{name}:{line}: reads the clock ({match.group(0).strip()}); take `now` from the caller")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=["layers", "function-size", "owners", "graph", "graph-current", "clock"])
    parser.add_argument("source", type=pathlib.Path)
    parser.add_argument("--max-lines", type=int, default=120)
    args = parser.parse_args()
    if args.check == "graph":
        print(graph_of(args.source), end="")
        return 0
    if args.check == "layers":
        problems = check_layers(args.source)
    elif args.check == "graph-current":
        problems = check_graph_current(args.source)
    elif args.check == "owners":
        problems = check_owners(args.source)
    elif args.check == "clock":
        problems = check_clock(args.source)
    else:
        problems = check_function_size(args.source, args.max_lines)
    for problem in problems:
        print(problem)
    print(f"{args.check}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
