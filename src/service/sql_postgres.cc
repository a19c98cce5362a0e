// The service's SQL connection over PostgreSQL (libpq): parameters and
// results in binary form (no quoting, no escaping), ?N rewritten to $N.
// Each statement is prepared once a connection (PQprepare) and then only
// executed: the server parses and plans it once, not for every request.

#include <libpq-fe.h>
#include <poll.h>

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "service/internal/postgres.h"
#include "service/internal/sql.h"

namespace mailseal::service::sql {

namespace {

// PostgreSQL's type ids (pg_type.oid) of the parameters sent.
constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kBytea = 17;

// The statement with ?N as $N, outside quoted text and names.
std::string postgres_text(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out.push_back('$');
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::int64_t big_endian(const char* data, int length) {
  std::uint64_t value = 0;
  for (int i = 0; i < length; ++i)
    value = (value << 8) | static_cast<unsigned char>(data[i]);
  // Sign-extend a 2- or 4-byte integer.
  if (length < 8 && length > 0 && (static_cast<unsigned char>(data[0]) & 0x80) != 0)
    value |= ~std::uint64_t{0} << (8 * length);
  return static_cast<std::int64_t>(value);
}

// The parameters in libpq's form, owning their bytes.
struct Parameters {
  std::vector<Oid> types;
  std::vector<std::string> data;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;

  explicit Parameters(Values given) {
    data.reserve(given.size());
    for (const Value& value : given) {
      const auto& held = value.get();
      if (const auto* integer = std::get_if<std::int64_t>(&held)) {
        std::string bytes(8, '\0');
        for (int i = 0; i < 8; ++i)
          bytes[static_cast<std::size_t>(i)] = static_cast<char>(static_cast<std::uint64_t>(*integer) >> (56 - 8 * i));
        add(kInt8, std::move(bytes));
      } else if (const auto* text = std::get_if<std::string>(&held)) {
        add(kText, *text);
      } else if (const auto* bytes = std::get_if<Bytes>(&held)) {
        add(kBytea, std::string(bytes->begin(), bytes->end()));
      } else {
        types.push_back(0);
        data.emplace_back();
        lengths.push_back(0);
        formats.push_back(1);
      }
    }
    for (std::size_t i = 0; i < data.size(); ++i)
      values.push_back(std::holds_alternative<std::monostate>(given.begin()[i].get()) ? nullptr : data[i].data());
  }

  void add(Oid type, std::string bytes) {
    types.push_back(type);
    lengths.push_back(static_cast<int>(bytes.size()));
    data.push_back(std::move(bytes));
    formats.push_back(1);
  }
};

class PostgresRows final : public Rows {
 public:
  explicit PostgresRows(PgResult result) : result_(std::move(result)), count_(PQntuples(result_.get())) {}
  bool next() override { return ++row_ < count_; }
  std::int64_t integer(int column) const override {
    return big_endian(PQgetvalue(result_.get(), row_, column), PQgetlength(result_.get(), row_, column));
  }
  std::string text(int column) const override {
    return std::string(PQgetvalue(result_.get(), row_, column),
                       static_cast<std::size_t>(PQgetlength(result_.get(), row_, column)));
  }
  Bytes blob(int column) const override {
    const char* data = PQgetvalue(result_.get(), row_, column);
    return Bytes(data, data + PQgetlength(result_.get(), row_, column));
  }
  bool is_null(int column) const override { return PQgetisnull(result_.get(), row_, column) != 0; }

 private:
  PgResult result_;
  int count_;
  int row_ = -1;
};

std::string first_line(const char* message) {
  std::string text = message ? message : "";
  text = text.substr(0, text.find('\n'));
  return text.empty() ? std::string("unknown error") : text;
}

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(PgConnection connection) : connection_(std::move(connection)) {}

  Dialect dialect() const noexcept override { return Dialect::Postgres; }

  std::unique_ptr<Rows> query(std::string_view sql, Values values) override {
    return std::make_unique<PostgresRows>(exec(sql, values));
  }

  int run(std::string_view sql, Values values) override {
    PgResult result = exec(sql, values);
    const char* changed = PQcmdTuples(result.get());
    return changed && *changed ? std::atoi(changed) : 0;
  }

  void execute(std::string_view script) override {
    PgResult result(PQexec(connection_.get(), std::string(script).c_str()));
    check(result);
  }

  bool healthy() const noexcept override { return PQstatus(connection_.get()) == CONNECTION_OK; }

  std::vector<Notification> notifications(int milliseconds) override {
    // What the last statement's answer brought along may sit in libpq's
    // buffer unparsed, where poll() does not see it.
    if (PQconsumeInput(connection_.get()) != 1)
      return {};
    std::vector<Notification> out = take_notifications();
    if (!out.empty())
      return out;
    pollfd watched{PQsocket(connection_.get()), POLLIN, 0};
    if (watched.fd < 0 || ::poll(&watched, 1, milliseconds) <= 0)
      return out;
    if (PQconsumeInput(connection_.get()) != 1)
      return out;
    return take_notifications();
  }

  std::int64_t backend_pid() const noexcept override { return PQbackendPID(connection_.get()); }

 private:
  PgResult exec(std::string_view sql, Values values) {
    Parameters parameters(values);
    const int count = static_cast<int>(parameters.types.size());
    const std::string* name = prepared(sql, parameters.types);
    PgResult result(name ? PQexecPrepared(connection_.get(), name->c_str(), count, parameters.values.data(),
                                          parameters.lengths.data(), parameters.formats.data(), 1)
                         : PQexecParams(connection_.get(), postgres_text(sql).c_str(), count,
                                        parameters.types.data(), parameters.values.data(),
                                        parameters.lengths.data(), parameters.formats.data(), 1));
    check(result);
    return result;
  }

  // The name of the statement prepared for `sql` with these parameter types
  // (a NULL's type is left to the server, so types are part of the key);
  // prepared now if it was not. The service's statements are a fixed set;
  // beyond kMaxPrepared (never, unless SQL were built from input), nullptr:
  // run unprepared.
  const std::string* prepared(std::string_view sql, const std::vector<Oid>& types) {
    static constexpr std::size_t kMaxPrepared = 256;
    std::string key(sql);
    key.append(reinterpret_cast<const char*>(types.data()), types.size() * sizeof(Oid));
    if (auto found = prepared_.find(key); found != prepared_.end())
      return &found->second;
    if (prepared_.size() >= kMaxPrepared)
      return nullptr;
    std::string name = fmt::format("mailseal_{}", prepared_.size());
    PgResult result(PQprepare(connection_.get(), name.c_str(), postgres_text(sql).c_str(),
                              static_cast<int>(types.size()), types.data()));
    check(result);
    return &prepared_.emplace(std::move(key), std::move(name)).first->second;
  }

  std::vector<Notification> take_notifications() {
    std::vector<Notification> out;
    while (PgNotification notification{PQnotifies(connection_.get())})
      out.push_back({notification->relname, notification->extra ? notification->extra : ""});
    return out;
  }

  // Only the primary message: the detail may quote stored values.
  void check(const PgResult& result) {
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
      return;
    const char* primary = result ? PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    throw Error(ErrorCode::Io,
                fmt::format("a PostgreSQL statement failed: {}",
                            first_line(primary ? primary : PQerrorMessage(connection_.get()))));
  }

  PgConnection connection_;
  std::map<std::string, std::string> prepared_;  // statement and parameter types -> name
};

void ignore_notice(void*, const char*) {}

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& uri) {
  PgConnection connection(PQconnectdb(uri.c_str()));
  if (!connection)
    throw Error(ErrorCode::Io, "cannot connect to the PostgreSQL database: out of memory");
  if (PQstatus(connection.get()) != CONNECTION_OK)
    throw Error(ErrorCode::Io,
                fmt::format("cannot connect to the PostgreSQL database: {}",
                            first_line(PQerrorMessage(connection.get()))),
                "check the --db URI (postgresql://USER@HOST:PORT/DATABASE) and that the server runs");
  // Notices ("relation exists, skipping") are not the service's output.
  PQsetNoticeProcessor(connection.get(), ignore_notice, nullptr);
  return std::make_unique<PostgresConnection>(std::move(connection));
}

}  // namespace mailseal::service::sql
