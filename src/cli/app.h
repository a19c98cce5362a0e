#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailseal::cli {

// Every command's options, defined and ready to parse one command line.
// Defining them is a fifth of a small command's own work (CLI11 builds some
// four hundred options); the resident process defines them once and each
// command it forks parses its own copy.
class CommandLine;
struct CommandLineDeleter {
  void operator()(CommandLine* definitions) const noexcept;
};

std::unique_ptr<CommandLine, CommandLineDeleter> define_command_line();

// The top-level commands defined to parse a command line of these words (the
// arguments after the program's name): the groups of the commands the words
// name, or every command when they name none. `run` defines no more than that.
std::vector<std::string> commands_defined_for(std::span<const std::string_view> words);

// Parses the command line and runs the command; returns the exit status.
// `definitions` parses one command line only.
int run(CommandLine& definitions, int argc, char** argv);

// Both at once: what every program's main does.
int run(int argc, char** argv);

}  // namespace mailseal::cli
