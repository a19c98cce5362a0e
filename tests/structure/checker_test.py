#!/usr/bin/env python3
"""The structure checker finds what it is meant to find: small trees made
here, each breaking one rule, and one that breaks none."""
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import check_structure  # noqa: E402
from mailseal_test import check, finish  # noqa: E402


def make_tree(root: pathlib.Path, files: dict):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


BASE = {
    "src/low/CMakeLists.txt": "mailseal_part(low\n  SOURCES low.cc\n  LIBS fmt::fmt)\n",
    "src/low/low.cc": '#include "mailseal/low/low.h"\nint low() { return 1; }\n',
    "include/mailseal/low/low.h": "#pragma once\nint low();\n",
    "src/low/internal/secret.h": "#pragma once\n",
    "src/high/CMakeLists.txt": "mailseal_part(high\n  SOURCES high.cc\n  DEPENDS low)\n",
    "src/high/high.cc": '#include "mailseal/high/high.h"\n#include "mailseal/low/low.h"\nint high() { return low(); }\n',
    "include/mailseal/high/high.h": "#pragma once\nint high();\n",
    "src/cli/main.cc": '#include "mailseal/high/high.h"\nint main() { return high(); }\n',
}


def problems_in(checker, extra: dict) -> list:
    """What `checker` finds in BASE changed by `extra`."""
    with tempfile.TemporaryDirectory() as directory:
        root = pathlib.Path(directory)
        make_tree(root, {**BASE, **extra})
        return checker(root)


def layer_problems(extra: dict) -> list:
    return problems_in(check_structure.check_layers, extra)


check(layer_problems({}) == [], "a tree that keeps the rules passes", layer_problems({}))

found = layer_problems({"src/low/low.cc": '#include "mailseal/high/high.h"\nint low() { return 1; }\n'})
check(any("part 'low' includes mailseal/high/high.h" in p for p in found), "a lower part including a higher one",
      found)

found = layer_problems({"src/high/high.cc": '#include "low/internal/secret.h"\nint high() { return 0; }\n'})
check(any("internal header of part 'low'" in p for p in found), "another part's internal header", found)

found = layer_problems({"include/mailseal/high/high.h": "#pragma once\n#include <nlohmann/json.hpp>\n"})
check(any("public header includes <nlohmann/json.hpp>" in p for p in found), "nlohmann in a public header", found)

found = layer_problems({"include/mailseal/low/low.h": "#pragma once\n#include <openssl/evp.h>\n"})
check(any("<openssl/evp.h>" in p for p in found), "OpenSSL in a public header", found)

found = layer_problems({"src/low/CMakeLists.txt": "mailseal_part(low\n  SOURCES low.cc\n  DEPENDS high)\n"})
check(any("cycle" in p for p in found), "parts that depend on each other", found)

found = layer_problems({"src/stray/thing.cc": "int thing() { return 0; }\n"})
check(any("src/stray/ is not a part" in p for p in found), "a folder that is not a part", found)



def owner_problems(extra: dict) -> list:
    return problems_in(check_structure.check_owners, extra)


check(owner_problems({}) == [], "a tree without C release calls passes", owner_problems({}))

found = owner_problems({"src/low/low.cc": "void drop(X509* x) {\n  X509_free(x);\n}\n"})
check(found and found[0].startswith("src/low/low.cc:2: calls X509_free()"), "an OpenSSL free outside the owners",
      found)

found = owner_problems(
    {"include/mailseal/low/low.h": "struct Free {\n  void operator()(S* s) { sk_X509_pop_free(s, X509_free); }\n};\n"})
check(len(found) == 1 and "sk_X509_pop_free" in found[0], "a second owner's deleter in another header", found)

found = owner_problems({"src/high/high.cc": "void end(int fd) {\n  ::close(fd);\n  g_object_unref(o);\n}\n"})
check(len(found) == 2, "close() of a descriptor and a GLib unref by hand", found)

found = owner_problems({
    "src/service/internal/postgres.h": "struct PgClear {\n  void operator()(pg_result* r) const noexcept;\n};\n",
    "src/service/postgres_handles.cc": "void PgClear::operator()(pg_result* r) const noexcept { PQclear(r); }\n",
    "src/service/sql.cc": "void f(PGconn* c, PGresult* r) {\n  PQclear(r);\n  PQfinish(c);\n}\n",
})
check(len(found) == 2 and "src/service/sql.cc:2: calls PQclear()" in found[0] and "PQfinish" in found[1],
      "libpq's PQclear and PQfinish by hand, outside the owners (service/internal/postgres.h)", found)

found = owner_problems({
    "src/clients/internal/nss_handles.h": "struct SlotDeleter {\n  void operator()(PK11SlotInfo* s) { PK11_FreeSlot(s); }\n};\n",
    "src/clients/sdr.cc": "void f(PK11SymKey* k, SECItem* i) {\n  PK11_FreeSymKey(k);\n  SECITEM_ZfreeItem(i, PR_TRUE);\n"
                          "  NSS_ShutdownContext(c);\n}\n",
})
check(len(found) == 3 and "src/clients/sdr.cc:2: calls PK11_FreeSymKey()" in found[0] and "SECITEM_ZfreeItem" in found[1]
      and "NSS_ShutdownContext" in found[2],
      "NSS's PK11_Free*, SECITEM_*FreeItem and NSS_ShutdownContext by hand, outside the owners "
      "(clients/internal/nss_handles.h)", found)

found = owner_problems({
    "src/common/openssl.h": "struct X509Free {\n  void operator()(X509* x) { X509_free(x); }\n};\n",
    "src/low/low.cc": "// X509_free(x) in a comment\nauto s = \"BIO_free(b)\";\nint UniqueFd::close() noexcept;\n"
                      "void f() { sink.close(); file->close(fd); }\n",
})
check(found == [], "deleters in the owners' header; comments, strings, declarations and members do not count", found)


def sizes(code: str) -> dict:
    return {name: last - first + 1 for name, first, last in check_structure.functions_in(code)}


long_body = "\n".join(f"  x += {i};" for i in range(130))
found = sizes(f"namespace a {{\nint long_one(int x) {{\n{long_body}\n  return x;\n}}\n}}\n")
check(found.get("long_one") == 133, "a function's lines counted from its first line to its closing brace", found)

found = sizes("struct S {\n  int f() const { return 1; }\n  int g();\n};\nint S::g() {\n  return 2;\n}\n")
check(found == {"f": 1, "S::g": 3}, "member functions inside and outside the class", found)

found = sizes('void h() {\n  auto brace = "}{";  // }\n  /* { */ char c = \'{\';\n  auto l = [] {\n    return 1;\n  };\n}\n')
check(found == {"h": 7}, "braces in strings, comments, characters and lambdas do not end a function", found)

found = sizes("const int table[] = {\n  1,\n  2,\n};\nenum class E { A, B };\nint k() { return 0; }\n")
check(found == {"k": 1}, "initialisers and enums are not functions", found)

found = sizes("Widget::Widget(int a)\n    : a_(a),\n      b_{a} {\n  start();\n}\n")
check(found == {"Widget::Widget": 5}, "a constructor with braces in its initialiser list", found)



def clock_problems(extra: dict) -> list:
    return problems_in(check_structure.check_clock, extra)


check(clock_problems({}) == [], "a tree whose library reads no clock passes", clock_problems({}))
for call in ("mailseal::now()", "std::chrono::system_clock::now().time_since_epoch().count()", "std::time(nullptr)",
             "::time(NULL)"):
    found = clock_problems({"src/low/low.cc": f"#include <ctime>\nint low() {{\n  return {call} > 0;\n}}\n"})
    check(any(p.startswith("src/low/low.cc:3: reads the clock") for p in found), f"the library calling {call}", found)
found = clock_problems({"src/cli/main.cc": "int main() { return mailseal::now() > 0; }\n",
                        "src/low/low.cc": "// never now() here\nint low() { return time_of(value.time()); }\n"})
check(found == [], "the CLI may read the clock; comments, a member named time() and other names are no reads", found)

finish(minimum=21)
