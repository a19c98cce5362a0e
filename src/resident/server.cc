// The resident process's side (mailseal/resident/resident.h): one thread, a
// poll loop over the listening socket, a signalfd and the connections; a
// child per command, forked ahead of it and idle until a launcher says Go
// (resident/internal/handoff.h).

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mailseal/common/secret.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/resident/resident.h"
#include "resident/internal/handoff.h"
#include "resident/internal/passing.h"
#include "resident/internal/place.h"
#include "resident/internal/prefault.h"
#include "resident/internal/request.h"

extern char** environ;

namespace mailseal::resident {

namespace {

using Clock = std::chrono::steady_clock;

// A launcher has this long to send its whole request (it sends it at once).
constexpr auto kRequestDeadline = std::chrono::seconds(5);

// The name an idle child shows (ps, top; tests tell it from a running
// command by it); it takes the resident's name back when it runs one.
constexpr const char* kIdleChildName = "mailseal-idle";

// How long an idle child waits for a command before it rehearses: a script
// running commands one after another hands the next within a few
// milliseconds of the last one's end.
constexpr auto kQuietBeforeRehearsal = std::chrono::milliseconds(50);

struct Connection {
  UniqueFd socket;
  std::vector<UniqueFd> passed;  // stdin, stdout, stderr, working folder
  // The length prefix, then the request: wiped when freed, since the
  // environment in it may carry MAILSEAL_PASSPHRASE.
  SecretBytes received;
  Clock::time_point deadline;
  bool offered = false;  // the request in `received` runs on Go
  pid_t child = 0;
  bool launcher_gone = false;
};

// The name ps shows for this process (PR_SET_NAME: at most 15 bytes). It is
// for people and tests reading the process list; prctl fails only for an
// address outside the process.
struct ProcessName {
  std::array<char, 16 + 1> text{};

  static ProcessName current() noexcept {
    ProcessName name;
    [[maybe_unused]] const int read = ::prctl(PR_GET_NAME, name.text.data());
    return name;
  }
  static void set(const char* text) noexcept { [[maybe_unused]] const int named = ::prctl(PR_SET_NAME, text); }
};

// The child forked ahead of the next command: it holds nothing of any
// launcher, no key and no store, and waits on `handoff`.
struct IdleChild {
  pid_t pid = 0;
  UniqueFd handoff;  // the resident's end; closing it ends the child
};

// The program file as it was when the server started: a launcher after an
// update must not run the old code.
struct ProgramFile {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  timespec modified{};

  static ProgramFile of_this_process() {
    ProgramFile file;
    std::error_code error;
    file.path = std::filesystem::read_symlink("/proc/self/exe", error).string();
    struct stat status {};
    if (!error && ::stat(file.path.c_str(), &status) == 0) {
      file.device = status.st_dev;
      file.inode = status.st_ino;
      file.modified = status.st_mtim;
    }
    return file;
  }

  bool unchanged() const {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && status.st_dev == device && status.st_ino == inode &&
           status.st_mtim.tv_sec == modified.tv_sec && status.st_mtim.tv_nsec == modified.tv_nsec &&
           !library_replaced();
  }

  // A package manager installs a library (a security update of OpenSSL, say)
  // as a new file renamed into place: the one this process mapped is then
  // "(deleted)" in its maps.
  static bool library_replaced() {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
      if (line.ends_with(" (deleted)") && line.find(" /") != std::string::npos)
        return true;
    return false;
  }
};

void send_bytes(int socket, std::span<const std::uint8_t> bytes) noexcept {
  // Best effort: a launcher that went away needs no answer.
  [[maybe_unused]] auto sent = ::send(socket, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void send_ending(int socket, Reply kind, int value) noexcept {
  const auto code = static_cast<std::uint32_t>(value);
  std::array<std::uint8_t, 1 + kLengthBytes> reply{static_cast<std::uint8_t>(kind)};
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    reply[1 + i] = static_cast<std::uint8_t>(code >> (8 * i));
  send_bytes(socket, reply);
}

std::optional<std::string> environment_value(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::optional<std::string>(value) : std::nullopt;
}

std::optional<std::string> requested_value(const Request& request, std::string_view name) {
  for (const auto& entry : request.environment)
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return entry.substr(name.size() + 1);
  return std::nullopt;
}

// A decoded request's strings are wiped before they are freed: the
// resident process keeps no launcher's passphrase in its memory, and so
// neither does an idle child forked from it later.
void wipe(Request& request) noexcept {
  for (auto* strings : {&request.arguments, &request.environment})
    for (auto& text : *strings)
      secure_wipe(text.data(), text.size());
}

void refuse(Connection& connection, std::string_view why) {
  std::vector<std::uint8_t> reply{static_cast<std::uint8_t>(Reply::Refused)};
  reply.insert(reply.end(), why.begin(), why.end());
  reply.push_back('\n');
  send_bytes(connection.socket.get(), reply);
  connection.socket.reset();
}

UniqueFd listen_at(const std::filesystem::path& socket_file) {
  make_private_folder(socket_file.parent_path());
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket_file.string();
  if (path.size() >= sizeof address.sun_path)
    throw std::runtime_error("the socket path " + path + " is too long for a Unix socket");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
    throw std::runtime_error("a resident process already listens at " + path);
  ::unlink(path.c_str());  // a socket left by a process that stopped
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.valid() || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(listener.get(), 64) != 0)
    throw std::runtime_error("cannot listen at " + path + ": " + std::strerror(errno));
  return listener;
}

// SIGCHLD and the stop signals arrive through a descriptor the loop polls.
UniqueFd signals_as_descriptor() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
    sigaddset(&signals, signal);
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0)
    throw std::runtime_error(std::string("cannot block signals: ") + std::strerror(errno));
  UniqueFd descriptor(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!descriptor.valid())
    throw std::runtime_error(std::string("cannot receive signals: ") + std::strerror(errno));
  return descriptor;
}

class Server {
 public:
  explicit Server(const ServerSettings& settings)
      : settings_(settings),
        listener_(listen_at(settings.socket)),
        signals_(signals_as_descriptor()),
        program_(ProgramFile::of_this_process()) {}

  ~Server() {
    for (auto& connection : connections_)
      if (connection.child > 0)
        ::kill(connection.child, SIGTERM);
    end_idle_child();
    if (listener_.valid())
      ::unlink(settings_.socket.c_str());
  }

  void run() {
    while (listener_.valid() || running_children() > 0 || idle_.pid > 0) {
      keep_idle_child();
      std::vector<pollfd> watched = {{signals_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
      std::vector<Connection*> watched_connections;
      for (auto& connection : connections_) {
        if (connection.socket.valid() && !connection.launcher_gone) {
          watched.push_back({connection.socket.get(), POLLIN, 0});
          watched_connections.push_back(&connection);
        }
      }
      if (::poll(watched.data(), watched.size(), next_timeout()) < 0 && errno != EINTR)
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      if (watched[0].revents)
        take_signals();
      if (watched[1].revents && listener_.valid())
        accept_launcher();
      for (std::size_t i = 0; i < watched_connections.size(); ++i)
        if (watched[i + 2].revents)
          read_from(*watched_connections[i]);
      drop_late_and_closed();
    }
  }

 private:
  std::size_t running_children() const {
    return static_cast<std::size_t>(
        std::count_if(connections_.begin(), connections_.end(), [](const auto& c) { return c.child > 0; }));
  }

  int next_timeout() const {
    auto soonest = Clock::time_point::max();
    for (const auto& connection : connections_)
      if (connection.child == 0)
        soonest = std::min(soonest, connection.deadline);
    if (soonest == Clock::time_point::max())
      return -1;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left + 1, 0, 60'000));
  }

  void stop_listening() {
    ::unlink(settings_.socket.c_str());
    listener_.reset();
    end_idle_child();
  }

  // An idle child forked before this moment must run nothing after it (an
  // update, a stop). It holds nothing to save, so SIGKILL, which also ends
  // one that was stopped; its end of the pair closes too. It is reaped like
  // any child.
  void end_idle_child() noexcept {
    if (idle_.pid > 0)
      ::kill(idle_.pid, SIGKILL);
    idle_.handoff.reset();
  }

  // A stopped idle child (another process of the user sent it SIGSTOP) would
  // take the next command and leave its launcher waiting for good: it is
  // ended and replaced. A stopped command is the launcher's to resume.
  void end_if_idle(pid_t child) noexcept {
    if (child == idle_.pid && idle_.pid > 0) {
      ::kill(idle_.pid, SIGKILL);
      idle_ = IdleChild{};
    }
  }

  // One idle child while the resident process listens, within the limit of
  // children (the idle one counts). One that died idle is replaced once;
  // if its successor dies idle too, the next command forks its own, so
  // that a child that cannot live does not make the loop spin.
  void keep_idle_child() {
    if (listener_.valid() && idle_.pid == 0 && idle_children_lost_ < 2 && running_children() < settings_.max_children)
      fork_idle_child();
  }

  void take_signals() {
    signalfd_siginfo info{};
    bool told_to_stop = false;
    while (::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info))
      told_to_stop = told_to_stop || info.ssi_signo != SIGCHLD;
    int status = 0;
    for (pid_t child; (child = ::waitpid(-1, &status, WNOHANG | WUNTRACED)) > 0;) {
      if (WIFSTOPPED(status))
        end_if_idle(child);
      else
        report_exit(child, status);
    }
    if (!told_to_stop)
      return;
    // Stopped by SIGTERM, SIGINT or SIGHUP: the commands running stop too.
    // (Stopping after an update lets them finish.)
    if (listener_.valid())
      stop_listening();
    for (auto& connection : connections_)
      if (connection.child > 0)
        ::kill(connection.child, SIGTERM);
  }

  void report_exit(pid_t child, int status) {
    if (child == idle_.pid) {
      idle_ = IdleChild{};
      ++idle_children_lost_;
      return;
    }
    for (auto& connection : connections_) {
      if (connection.child != child)
        continue;
      // A command that ended normally has said so itself (run_in_child);
      // the launcher reads one ending and what follows goes nowhere.
      if (WIFSIGNALED(status))
        send_ending(connection.socket.get(), Reply::Signalled, WTERMSIG(status));
      else
        send_ending(connection.socket.get(), Reply::Exited, WEXITSTATUS(status));
      connection.child = 0;
      connection.socket.reset();
    }
  }

  void accept_launcher() {
    UniqueFd socket(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!socket.valid()) {
      // Out of descriptors, the listener would stay readable and the loop
      // spin: stop listening (launchers run their commands themselves) and
      // end once the commands running have, so that a new one starts.
      if (errno == EMFILE || errno == ENFILE)
        stop_listening();
      return;
    }
    if (!peer_is_this_user(socket.get()))
      return;  // another user: closed without a word
    Connection& connection = connections_.emplace_back();
    connection.socket = std::move(socket);
    connection.deadline = Clock::now() + kRequestDeadline;
    if (const auto confined = peer_confinement_differs(connection.socket.get()))
      refuse(connection, *confined);
  }

  void read_from(Connection& connection);
  // Receives into `into`; descriptors that came along belong to the
  // connection from then on, whatever happens next.
  Received receive(Connection& connection, std::span<std::uint8_t> into) {
    return receive_with_descriptors(connection.socket.get(), into, connection.passed, kPassedDescriptors);
  }
  std::optional<std::string_view> refusal_of(const Request& request) const;
  void offer(Connection& connection);
  void take_go(Connection& connection);
  void start(Connection& connection);
  bool hand_to_idle_child(Connection& connection);
  void fork_idle_child();
  [[noreturn]] void wait_as_idle_child(UniqueFd handoff, pid_t resident, const ProcessName& own_name);
  void leave_the_resident() noexcept;
  [[noreturn]] void run_command(HandedCommand& command);

  void drop_late_and_closed() {
    const auto now = Clock::now();
    for (auto& connection : connections_)
      if (connection.child == 0 && connection.socket.valid() && connection.deadline < now)
        refuse(connection, "the request did not arrive in time");
    connections_.remove_if([](const Connection& c) { return c.child == 0 && !c.socket.valid(); });
  }

  const ServerSettings& settings_;
  // The OpenSSL configuration loaded once for every child: a launcher that
  // names another runs its command itself.
  std::optional<std::string> openssl_conf_ = environment_value("OPENSSL_CONF");
  UniqueFd listener_;
  UniqueFd signals_;
  ProgramFile program_;
  std::list<Connection> connections_;
  IdleChild idle_;
  std::size_t idle_children_lost_ = 0;  // idle children that died idle since the last command
  std::size_t started_ = 0;

 public:
  std::size_t commands_started() const noexcept { return started_; }
};

void Server::read_from(Connection& connection) {
  if (connection.child > 0) {
    // The launcher sends nothing after its request: readable means it went
    // away (interrupted by its user), and so does its command.
    ::kill(connection.child, SIGTERM);
    connection.launcher_gone = true;
    return;
  }
  if (connection.offered)
    return take_go(connection);
  std::array<std::uint8_t, 64 * 1024> buffer{};
  const auto [count, descriptors_whole] = receive(connection, buffer);
  if (count < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (count <= 0 || !descriptors_whole) {
    connection.socket.reset();
    return;
  }
  if (!connection.passed.empty())
    return refuse(connection, "descriptors travel with Go, not with the request");
  connection.received.insert(connection.received.end(), buffer.begin(), buffer.begin() + count);
  secure_wipe(buffer.data(), static_cast<std::size_t>(count));
  if (connection.received.size() < kLengthBytes)
    return;
  const std::size_t length =
      read_length(std::span<const std::uint8_t, kLengthBytes>(connection.received.data(), kLengthBytes));
  if (length > kMaxRequestBytes || connection.received.size() > kLengthBytes + length)
    return refuse(connection, "the request is larger than it says or than 1 MiB");
  if (connection.received.size() == kLengthBytes + length)
    offer(connection);
}

void Server::take_go(Connection& connection) {
  std::array<std::uint8_t, 1> go{};
  const auto [count, descriptors_whole] = receive(connection, go);
  if (count < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (count != 1 || go[0] != static_cast<std::uint8_t>(Reply::Go)) {
    connection.socket.reset();  // the launcher gave up: it runs the command itself
    return;
  }
  if (!descriptors_whole || connection.passed.size() != kPassedDescriptors)
    return refuse(connection, "Go carries standard input, output, error and the working folder");
  start(connection);
}

// Why the resident process does not offer to run `request`, or std::nullopt.
std::optional<std::string_view> Server::refusal_of(const Request& request) const {
  std::vector<std::string_view> words(request.arguments.begin(), request.arguments.end());
  if (!runs_in_resident(words))
    return "not a command the resident process runs";
  if (!listener_.valid() || running_children() >= settings_.max_children)
    return "busy";
  if (requested_value(request, "OPENSSL_CONF") != openssl_conf_)
    return "the launcher names another OPENSSL_CONF than the resident process loaded";
  return std::nullopt;
}

void Server::offer(Connection& connection) {
  std::optional<std::string_view> refusal;
  try {
    Request request = decode(std::span(connection.received).subspan(kLengthBytes));
    refusal = refusal_of(request);
    wipe(request);  // the idle child decodes its own copy from `received`
  } catch (const MalformedRequest& error) {
    return refuse(connection, error.what());
  }
  if (refusal)
    return refuse(connection, *refusal);
  // Checked before each command: the idle child is this process's copy,
  // with the same program and libraries mapped, so it is stale exactly
  // when this process is, and stop_listening ends it.
  if (!program_.unchanged()) {
    stop_listening();
    return refuse(connection, "mailseal or a library it uses was updated since the resident process started");
  }
  connection.offered = true;
  const std::array<std::uint8_t, 1> offered{static_cast<std::uint8_t>(Reply::Offered)};
  send_bytes(connection.socket.get(), offered);
}

void Server::start(Connection& connection) {
  // Offered and told to go: it runs, even if the resident process is
  // stopping meanwhile (it waits for its children). An idle child that died
  // unseen refuses the hand-off, and a second one, forked now, takes it.
  if (hand_to_idle_child(connection) || hand_to_idle_child(connection)) {
    ++started_;
    idle_children_lost_ = 0;
  } else {
    const std::string why =
        std::string("mailseal: the resident process cannot start a process: ") + std::strerror(errno) + "\n";
    [[maybe_unused]] auto written = ::write(connection.passed[2].get(), why.data(), why.size());
    send_ending(connection.socket.get(), Reply::Exited, 71);  // EX_OSERR
    connection.socket.reset();
  }
  connection.passed.clear();
  connection.received = SecretBytes{};
  connection.offered = false;
}

bool Server::hand_to_idle_child(Connection& connection) {
  if (idle_.pid == 0)
    fork_idle_child();
  if (idle_.pid == 0)
    return false;
  // Stopped since the last signals were read: not yet seen, so look now.
  int status = 0;
  if (::waitpid(idle_.pid, &status, WNOHANG | WUNTRACED) == idle_.pid) {
    if (WIFSTOPPED(status))
      end_if_idle(idle_.pid);
    else
      report_exit(idle_.pid, status);
    return false;
  }
  IdleChild child = std::exchange(idle_, IdleChild{});
  if (!hand_over(child.handoff.get(), connection.socket.get(), connection.passed, connection.received)) {
    // Nothing reached it, so it has run nothing; it is reaped as a
    // stranger (no connection waits for it).
    const int error = errno;
    ::kill(child.pid, SIGKILL);
    errno = error;
    return false;
  }
  connection.child = child.pid;
  return true;
}

// Without descriptors or processes left, there is no idle child (errno
// says why): the next command tries again, and says so if it fails too.
void Server::fork_idle_child() {
  auto pair = handoff_pair();
  if (!pair)
    return;
  auto& [resident_end, child_end] = *pair;
  const pid_t resident = ::getpid();
  // Named before the fork, so that the child carries the idle name from its
  // first instant: no one looking at the resident's children (ps, tests)
  // sees an idle child as a running command.
  const ProcessName own_name = ProcessName::current();
  ProcessName::set(kIdleChildName);
  const pid_t child = ::fork();
  if (child == 0) {
    resident_end.reset();
    wait_as_idle_child(std::move(child_end), resident, own_name);
  }
  ProcessName::set(own_name.text.data());
  if (child < 0)
    return;
  idle_ = IdleChild{child, std::move(resident_end)};
}

void Server::wait_as_idle_child(UniqueFd handoff, pid_t resident, const ProcessName& own_name) {
  leave_the_resident();
  // Dies with the resident process, however it ends (SIGKILL gives it no
  // chance to end this child); the check after it covers a resident that
  // ended before the call.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != resident)
    std::_Exit(0);
  if (settings_.prepare_child) {
    try {
      settings_.prepare_child();
    } catch (const std::exception&) {
      // Only a head start: the command that needs what failed here meets
      // the failure again, and says why.
    }
  }
  // Each step of the warm-up only if no command came meanwhile: a command
  // handed over while the child warms up would wait for it. Last, so that
  // what the preparation touched is populated too. A mapping the kernel
  // would not populate faults in when touched, as without this.
  const auto command_came = [fd = handoff.get()] { return handoff_ready(fd); };
  [[maybe_unused]] const std::size_t left_to_fault = populate_private_mappings(command_came);
  // Only in a child left waiting: a command that comes back to back finds
  // it without one, since the rehearsal's first touches slowed the command
  // running beside it by 6% on this project's machine, where a command
  // that comes later is 10% faster for it (bench/smime_profile.md, "The
  // idle child rehearses").
  if (settings_.rehearse && !handoff_ready(handoff.get(), kQuietBeforeRehearsal)) {
    try {
      settings_.rehearse(command_came);
    } catch (const std::exception&) {
      // Only a head start, as above.
    }
  }
  auto command = wait_for_command(handoff.get());
  if (!command)
    std::_Exit(0);  // the resident process ended it, or stopped
  handoff.reset();
  // From here it runs a command as a child forked for it would: to its end,
  // even if the resident process stops meanwhile.
  // (It fails only for a signal number out of range: 0 is not.)
  [[maybe_unused]] const int undone = ::prctl(PR_SET_PDEATHSIG, 0);
  ProcessName::set(own_name.text.data());
  run_command(*command);
}

void Server::leave_the_resident() noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // A session of its own: without a controlling terminal, a command that
  // reads the launcher's terminal is not stopped by job control (SIGTTIN
  // would stop the resident process's whole group, the resident included).
  if (::setsid() < 0)
    std::_Exit(71);
  // Nothing of the server stays open in the command: not the listening
  // socket, and not a launcher's streams, connection or request.
  connections_.clear();
  listener_.reset();
  signals_.reset();
}

void Server::run_command(HandedCommand& command) {
  Request request;
  try {
    request = decode(std::span(command.request).subspan(kLengthBytes));
  } catch (const MalformedRequest&) {
    std::_Exit(70);  // the resident process decoded these very bytes
  }
  bool streams_in_place = true;
  for (int target = 0; target < 3; ++target)
    streams_in_place =
        ::dup2(command.passed[static_cast<std::size_t>(target)].get(), target) == target && streams_in_place;
  const bool in_folder = streams_in_place && ::fchdir(command.passed[3].get()) == 0;
  command.passed.clear();
  if (!in_folder)
    std::_Exit(70);
  ::umask(static_cast<mode_t>(request.umask));
  std::vector<char*> environment;
  for (auto& entry : request.environment)
    environment.push_back(entry.data());
  environment.push_back(nullptr);
  environ = environment.data();
  std::vector<char*> command_line;
  for (auto& argument : request.arguments)
    command_line.push_back(argument.data());
  const int status = settings_.run(std::span(command_line));
  // What the command wrote is flushed, then the launcher hears the status
  // from here, without waiting for this process's memory to be taken down.
  // The exit handlers are skipped: they would free, one by one, what the
  // kernel takes back at once (OpenSSL's and GMime's tables, a fifth of a
  // small command's time), and the stores the command opened were closed
  // when it returned.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  send_ending(command.connection.get(), Reply::Exited, status);
  std::_Exit(status);
}

}  // namespace

std::size_t serve(const ServerSettings& settings) {
  Server server(settings);
  if (settings.on_ready)
    settings.on_ready();
  server.run();
  return server.commands_started();
}

}  // namespace mailseal::resident
