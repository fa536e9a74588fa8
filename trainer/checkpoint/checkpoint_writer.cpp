#include "checkpoint/checkpoint_writer.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "hetero/safetensors.h"

namespace hetero {
namespace fs = std::filesystem;

namespace {

std::string safetensors_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    case at::kHalf: return "F16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    default: throw std::runtime_error(std::string("checkpoint: no safetensors dtype for ") + c10::toString(t));
  }
}

std::string gigabytes(double bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(bytes < 1e8 ? 4 : 2) << bytes / 1e9 << " GB";
  return s.str();
}

}  // namespace

CheckpointWriter::CheckpointWriter(const RunPaths& paths, int rank, int world_size, int keep_last)
    : paths_(paths), rank_(rank), world_size_(world_size), keep_last_(keep_last) {}

CheckpointWriter::~CheckpointWriter() {
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::remove_stale_partials() const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paths_.checkpoints_dir(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0) {
      std::cout << "hetero-train: removing " << e.path().string() << ", a checkpoint whose save did not finish"
                << std::endl;
      fs::remove_all(e.path());
    }
  }
}

void CheckpointWriter::reserve(const std::vector<SavedTensor>& pieces) {
  std::vector<at::Tensor> like;
  for (const SavedTensor& s : pieces) like.push_back(s.values);
  std::function<void(const std::string&)> report;
  if (rank_ == 0) report = [](const std::string& line) { std::cout << "hetero-train: rank 0 " << line << std::endl; };
  copy_.reserve(like, report);
}

void CheckpointWriter::begin(const Group& world, std::vector<SavedTensor> pieces, const CheckpointProgress& progress,
                             const std::string& config_yaml) {
  if (pending_) poll(world, /*wait=*/true);  // one save at a time
  if (thread_.joinable()) thread_.join();
  progress_ = progress;
  config_yaml_ = config_yaml;
  const std::string dir = paths_.checkpoint_partial_dir(progress.iteration);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the checkpoint folder " + dir + ": " + ec.message());
  pieces_.clear();
  std::vector<at::Tensor> values;
  for (SavedTensor& s : pieces) {
    s.piece.file = checkpoint_rank_file(rank_);
    s.piece.dtype = safetensors_dtype(s.values.scalar_type());
    pieces_.push_back(s.piece);
    values.push_back(s.values.contiguous());
  }
  copy_.start(values);
  state_ = 1;
  pending_ = true;
  thread_ = std::thread([this, iter = progress.iteration] { write_files(iter); });
}

void CheckpointWriter::write_files(int iter) {
  try {
    const auto t0 = std::chrono::steady_clock::now();
    copy_.copy_to_host();
    const std::string dir = paths_.checkpoint_partial_dir(iter);
    std::vector<RawTensor> raw;
    const auto& host = copy_.host();
    for (size_t i = 0; i < pieces_.size(); ++i)
      raw.push_back({pieces_[i].tensor, pieces_[i].dtype, {host[i].numel()}, host[i].data_ptr(),
                     static_cast<uint64_t>(host[i].numel() * host[i].element_size())});
    const std::string file = dir + "/" + checkpoint_rank_file(rank_);
    if (kill_at_ == iter) {  // testing: die with half a file on disk
      raw.resize(raw.size() / 2);
      write_safetensors_raw(file, raw, {}, /*durable=*/false);
      ::kill(::getpid(), SIGKILL);
    }
    write_safetensors_raw(file, raw, {{"format", kCheckpointFormat}, {"iteration", std::to_string(iter)}});
    write_rank_index(checkpoint_rank_index(dir, rank_), {pieces_, progress_.optimizer_steps});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rank_ == 0) std::cout << "hetero-train: checkpoint iter " << iter << ": rank 0 wrote its files in " << s << " s" << std::endl;
    state_ = 0;
  } catch (const std::exception& e) {
    error_ = e.what();
    state_ = 2;
  }
}

void CheckpointWriter::poll(const Group& world, bool wait) {
  if (!pending_) return;
  if (wait && thread_.joinable()) thread_.join();
  at::Tensor status = at::tensor({static_cast<double>(state_.load())}, at::kDouble).to(world.device);
  all_reduce_max(world, status);
  const int worst = static_cast<int>(status.cpu().item<double>());
  if (worst == 1) return;  // some rank is still writing
  if (thread_.joinable()) thread_.join();
  pending_ = false;
  const int iter = progress_.iteration;
  const std::string dir = paths_.checkpoint_partial_dir(iter);
  if (worst == 2) {
    if (state_ == 2)
      throw std::runtime_error("saving checkpoint " + dir + " failed: " + error_ +
                               "; the previous complete checkpoint stays as latest");
    throw std::runtime_error("saving checkpoint " + dir +
                             " failed on another rank (its log names the path and the reason); the previous "
                             "complete checkpoint stays as latest");
  }
  if (rank_ == 0) complete(iter);
}

void CheckpointWriter::complete(int iter) {
  const std::string partial = paths_.checkpoint_partial_dir(iter);
  const std::string final_dir = paths_.checkpoint_dir(iter);
  CheckpointManifest m;
  m.progress = progress_;
  m.progress.optimizer_steps.clear();  // from every rank's index: rank 0 may not run every module
  m.world_size = world_size_;
  m.config_yaml = config_yaml_;
  double bytes = 0;
  for (int r = 0; r < world_size_; ++r) {
    RankIndex index = read_rank_index(checkpoint_rank_index(partial, r));
    for (const auto& [module, steps] : index.optimizer_steps) {
      const auto [it, fresh] = m.progress.optimizer_steps.emplace(module, steps);
      if (!fresh && it->second != steps)
        throw std::runtime_error("checkpoint " + partial + ": rank " + std::to_string(r) + " took " +
                                 std::to_string(steps) + " optimizer steps of the " + module + ", another rank " +
                                 std::to_string(it->second) + "; the ranks diverged, so the checkpoint is not completed");
    }
    for (CheckpointPiece& p : index.pieces) {
      bytes += static_cast<double>(safetensors_dtype_size(p.dtype)) * static_cast<double>(p.flat_end - p.flat_begin);
      m.pieces.push_back(std::move(p));
    }
  }
  write_manifest(partial, m);
  std::error_code ec;
  if (fs::exists(final_dir)) {
    // Left by a start that resumed from an earlier checkpoint: this run has
    // gone past it again on its own.
    std::cout << "hetero-train: replacing " << final_dir << " (saved by an earlier start, before it resumed from "
              << "an older checkpoint)" << std::endl;
    fs::remove_all(final_dir, ec);
  }
  fs::rename(partial, final_dir, ec);
  if (ec) throw std::runtime_error("cannot rename " + partial + " to " + final_dir + ": " + ec.message());
  fsync_dir(paths_.checkpoints_dir());
  write_latest(paths_.checkpoints_dir(), iter);
  std::cout << "hetero-train: saved checkpoint " << final_dir << " (" << gigabytes(bytes) << ", " << m.pieces.size()
            << " tensor pieces from " << world_size_ << " ranks)" << std::endl;
  // Keep the newest keep_last at or before this one; newer ones belong to
  // an abandoned start and are left alone until replaced.
  std::vector<int> older;
  for (int i : complete_checkpoints(paths_.checkpoints_dir()))
    if (i < iter) older.push_back(i);
  const int drop = static_cast<int>(older.size()) - (keep_last_ - 1);
  for (int k = 0; k < drop; ++k) {
    const std::string old = paths_.checkpoint_dir(older[k]);
    fs::remove_all(old, ec);
    if (ec) throw std::runtime_error("cannot delete the old checkpoint " + old + ": " + ec.message());
    std::cout << "hetero-train: deleted " << old << " (train.keep_last=" << keep_last_ << ")" << std::endl;
  }
}

}  // namespace hetero
