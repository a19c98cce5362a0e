#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailseal::cli {

// Every command's options, defined and ready to parse one command line.
// Defining them is a fifth of a small command's own work (CLI11 builds some
// four hundred options); the resident process defines them once
// (PreparedCommandLines) and each command it forks parses its own copy.
class CommandLine;
struct CommandLineDeleter {
  void operator()(CommandLine* definitions) const noexcept;
};

// Definitions built ahead, for the resident process: one set for each group
// of commands (app.cc) that `commands` name, built once before its children
// fork, so that a child parses with its command's group alone, as
// `run(argc, argv)` would define it, without defining it again.
class PreparedCommandLines {
 public:
  explicit PreparedCommandLines(std::span<const std::string_view> commands);
  ~PreparedCommandLines();
  PreparedCommandLines(const PreparedCommandLines&) = delete;
  PreparedCommandLines& operator=(const PreparedCommandLines&) = delete;

  // The definitions `run(argc, argv)` would build for this command line: a
  // prepared set when its words name one prepared group, else a set built
  // now. Each set parses one command line.
  CommandLine& for_command_line(int argc, char** argv);

 private:
  struct Prepared;
  std::vector<Prepared> prepared_;
  std::unique_ptr<CommandLine, CommandLineDeleter> built_;
};

// The top-level commands defined to parse a command line of these words (the
// arguments after the program's name): the groups of the commands the words
// name, or every command when they name none. `run` defines no more than that.
std::vector<std::string> commands_defined_for(std::span<const std::string_view> words);
// The top-level commands `definitions` holds.
std::vector<std::string> commands_defined_in(const CommandLine& definitions);

// Parses the command line and runs the command; returns the exit status.
// `definitions` parses one command line only.
int run(CommandLine& definitions, int argc, char** argv);

// Both at once: what every program's main does.
int run(int argc, char** argv);

}  // namespace mailseal::cli
