#include "nsys_source.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include <sqlite3.h>

#include "categories.h"
#include "hetero/errors.h"
#include "json_source.h"

namespace hetero::profiler {
namespace {

// NVTX_EVENTS.eventType values (nsys's NvtxEventType enum).
constexpr int kNvtxPushPopRange = 59;
constexpr int kNvtxStartEndRange = 60;
constexpr int kNvtxDomainCreate = 75;

class Database {
 public:
  explicit Database(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw ConfigError("cannot open nsys export " + path + ": " + msg);
    }
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool has_table(const std::string& table) {
    Statement s(*this, "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?");
    sqlite3_bind_text(s.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    return s.step();
  }

  bool has_column(const std::string& table, const std::string& column) {
    Statement s(*this, "SELECT name FROM pragma_table_info(?)");
    sqlite3_bind_text(s.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    while (s.step())
      if (s.text(0) == column) return true;
    return false;
  }

  class Statement {
   public:
    Statement(Database& db, const std::string& sql) : db_(db) {
      if (sqlite3_prepare_v2(db.db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
        throw ConfigError("nsys export " + db.path_ + ": " + sqlite3_errmsg(db.db_) + " (in: " + sql + ")");
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    sqlite3_stmt* get() { return stmt_; }
    bool step() {
      const int rc = sqlite3_step(stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      throw ConfigError("nsys export " + db_.path_ + ": " + sqlite3_errmsg(db_.db_));
    }
    bool is_null(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    std::int64_t int64(int col) { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) {
      const auto* t = sqlite3_column_text(stmt_, col);
      return t ? reinterpret_cast<const char*>(t) : "";
    }

   private:
    Database& db_;
    sqlite3_stmt* stmt_ = nullptr;
  };

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace

bool parse_nvtx_name(const std::string& text, int& region, int& iter, int& microbatch) {
  const auto space = text.find(" iter=");
  if (space == std::string::npos) return false;
  region = region_index(std::string_view(text).substr(0, space));
  std::size_t i = space + 6;
  auto read_int = [&](int& out) {
    const std::size_t from = i;
    long v = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && v < 1000000000)
      v = v * 10 + (text[i++] - '0');
    out = static_cast<int>(v);
    return i > from;
  };
  if (!read_int(iter)) return false;
  microbatch = -1;
  if (i == text.size()) return true;
  if (text.compare(i, 4, " mb=") != 0) return false;
  i += 4;
  return read_int(microbatch) && i == text.size();
}

NsysSource::NsysSource(std::vector<std::string> files, const RunConfig* config)
    : files_(std::move(files)), config_(config) {
  const bool all_named = std::all_of(files_.begin(), files_.end(), [](const std::string& f) {
    return rank_from_file_name(f) >= 0;
  });
  std::set<int> seen;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    const int rank = all_named ? rank_from_file_name(files_[i]) : static_cast<int>(i);
    if (!seen.insert(rank).second)
      throw ConfigError("--nsys: two files for rank " + std::to_string(rank) + " (" + files_[i] +
                        "); give one export per rank");
    ranks_.push_back(rank);
  }
}

std::string NsysSource::describe() const {
  return "nsys exports (" + std::to_string(files_.size()) + " file" + (files_.size() == 1 ? "" : "s") + ")";
}

RankReadInfo NsysSource::read(std::size_t index, RankVisitor& visitor, std::optional<int> only_iter) {
  const std::string& path = files_.at(index);
  Database db(path);
  if (!db.has_table("NVTX_EVENTS"))
    throw ConfigError("nsys export " + path + " has no NVTX_EVENTS table: was the run profiled with -t nvtx?");
  RankReadInfo info;
  const int rank = ranks_.at(index);
  if (config_) info.role = config_->role_of(rank);
  info.role.rank = rank;

  const bool string_ids = db.has_table("StringIds");
  const bool text_ids = string_ids && db.has_column("NVTX_EVENTS", "textId");
  const bool domains = db.has_column("NVTX_EVENTS", "domainId");
  const std::string name_expr = text_ids ? "COALESCE(e.text, s.value)" : "e.text";
  const std::string join = text_ids ? " LEFT JOIN StringIds s ON s.id = e.textId" : "";

  // Ranges of the "hetero" domain when the export names its domains.
  std::optional<std::int64_t> domain;
  if (domains) {
    Database::Statement s(db, "SELECT e.domainId, " + name_expr + " FROM NVTX_EVENTS e" + join +
                                  " WHERE e.eventType = " + std::to_string(kNvtxDomainCreate));
    while (s.step())
      if (s.text(1) == "hetero" && !s.is_null(0)) domain = s.int64(0);
  }
  // nsys times are ns since the session start; the session's wall clock
  // puts exports of different nodes on one axis.
  std::int64_t epoch = 0;
  if (db.has_table("TARGET_INFO_SESSION_START_TIME") && db.has_column("TARGET_INFO_SESSION_START_TIME", "utcEpochNs")) {
    Database::Statement s(db, "SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME LIMIT 1");
    if (s.step() && !s.is_null(0)) epoch = s.int64(0);
  }

  std::string sql = "SELECT e.start, e.end, " + name_expr + " FROM NVTX_EVENTS e" + join + " WHERE e.eventType IN (" +
                    std::to_string(kNvtxPushPopRange) + ", " + std::to_string(kNvtxStartEndRange) +
                    ") AND e.end IS NOT NULL";
  if (domain) sql += " AND e.domainId = " + std::to_string(*domain);
  sql += " ORDER BY e.start";
  Database::Statement s(db, sql);
  while (s.step()) {
    int region, iter, mb;
    if (s.is_null(2) || !parse_nvtx_name(s.text(2), region, iter, mb)) {
      ++info.no_iter;  // not one of ours (another library's range)
      continue;
    }
    if (only_iter && iter != *only_iter) continue;
    if (region < 0) {
      ++info.unknown_regions;
      continue;
    }
    Event e;
    e.rank = rank;
    e.region = region;
    e.iter = iter;
    e.microbatch = mb;
    e.start_ns = epoch + s.int64(0);
    e.end_ns = epoch + s.int64(1);
    ++info.events;
    visitor.on_event(e);
  }
  return info;
}

}  // namespace hetero::profiler
