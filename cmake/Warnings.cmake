# Every target of the project compiles warning-free; third-party headers come in
# as SYSTEM includes so their warnings do not count.
add_library(mailseal_warnings INTERFACE)
target_compile_options(mailseal_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough)
