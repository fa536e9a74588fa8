// Per-role microbatch schedules of one iteration (design §7 steps 1-3).
#include <chrono>
#include <deque>

#include "trainer.h"

namespace hetero {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int patch_dim(const Recipe& r) { return r.encoder.channels * r.encoder.patch_size * r.encoder.patch_size; }

std::vector<int> rows_of(const std::vector<const MockImage*>& images) {
  std::vector<int> rows;
  for (const auto* img : images) rows.push_back(VisionEncoder::rows_per_image(img->grid_h, img->grid_w));
  return rows;
}

int sum_of(const std::vector<int>& v) {
  int s = 0;
  for (int x : v) s += x;
  return s;
}

// The images one encoder replica encodes for `lane` in a microbatch: all of
// them under fan-out, its contiguous share under fan-in.
std::vector<const MockImage*> replica_share(const JobTopology& topo, int replica,
                                            const std::vector<const MockImage*>& lane_images) {
  const int k = topo.encoders_per_lane();
  if (k == 1) return lane_images;
  auto [b, e] = fan_in_image_range(static_cast<int>(lane_images.size()), k, replica % k);
  return {lane_images.begin() + b, lane_images.begin() + e};
}

}  // namespace

MicrobatchTotals run_encoder_side(Trainer& t, int iter) {
  MicrobatchTotals totals;
  const auto& groups = *t.comms.encoder;
  const int replica = groups.dp.rank;
  const bool is_sender = groups.tp.rank == 0;
  const auto lanes = t.topo.lanes_of_encoder_replica(replica);
  const int64_t hidden = t.recipe.llm.hidden_size;
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(t.comms.device);

  struct InFlight {
    int microbatch;
    at::Tensor output;
    std::vector<int> rows_per_lane;
  };
  std::deque<InFlight> in_flight;

  // Gradients for the oldest microbatch: from each lane, joined, shared with
  // the replica's other tp ranks, then backward.
  auto finish_oldest = [&]() {
    InFlight f = std::move(in_flight.front());
    in_flight.pop_front();
    const int64_t rows = sum_of(f.rows_per_lane);
    if (rows == 0) return;
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor grad = at::empty({rows, hidden}, fopts);
    if (is_sender) {
      std::vector<at::Tensor> parts;
      for (size_t i = 0; i < lanes.size(); ++i)
        parts.push_back(t.bridge->recv_gradients(t.routes.lane_grad_sender(lanes[i]), f.microbatch,
                                                 f.rows_per_lane[i], hidden, fopts));
      grad = at::cat(parts);
    }
    broadcast(groups.tp, grad, 0);
    totals.bridge_wait_ms += ms_since(t0);
    f.output.backward(grad);
  };

  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb) {
    std::vector<const MockImage*> images;
    std::vector<std::vector<int>> rows_per_image(lanes.size());
    std::vector<std::vector<MockSample>> keep_alive;
    for (size_t i = 0; i < lanes.size(); ++i) {
      keep_alive.push_back(t.data.samples(microbatch_sample_indices(t.topo, iter, lanes[i], mb)));
      auto share = replica_share(t.topo, replica, images_of(keep_alive.back()));
      rows_per_image[i] = rows_of(share);
      images.insert(images.end(), share.begin(), share.end());
    }
    InFlight f{mb, at::Tensor(), {}};
    for (const auto& r : rows_per_image) f.rows_per_lane.push_back(sum_of(r));
    at::Tensor out = at::empty({0, hidden}, fopts);
    if (!images.empty()) out = t.encoder->forward(pack_images(images, patch_dim(t.recipe), t.comms.device));
    f.output = out;
    if (is_sender) {
      int64_t offset = 0;
      for (size_t i = 0; i < lanes.size(); ++i) {
        const at::Tensor slice = out.narrow(0, offset, f.rows_per_lane[i]).detach();
        offset += f.rows_per_lane[i];
        for (int dst : t.routes.lane_receivers(lanes[i])) t.bridge->send_embeddings(dst, mb, rows_per_image[i], slice);
      }
    }
    in_flight.push_back(std::move(f));
    // Bounded run-ahead: at most encoder_run_ahead microbatches await gradients.
    while (static_cast<int>(in_flight.size()) >= t.recipe.train.encoder_run_ahead) finish_oldest();
  }
  while (!in_flight.empty()) finish_oldest();
  t.bridge->flush();
  return totals;
}

MicrobatchTotals run_llm_side(Trainer& t, int iter, double global_loss_tokens) {
  MicrobatchTotals totals;
  const auto& groups = *t.comms.llm;
  const int lane = groups.dp.rank;
  const bool sends_grads = groups.tp.rank == 0;
  const auto sources = t.topo.encoder_replicas_of_lane(lane);
  const int64_t hidden = t.recipe.llm.hidden_size;
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(t.comms.device);

  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb) {
    const auto samples = t.data.samples(microbatch_sample_indices(t.topo, iter, lane, mb));
    const auto lane_images = images_of(samples);

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<at::Tensor> parts;
    std::vector<int64_t> part_rows;
    for (int src : sources) {
      const auto expected = rows_of(replica_share(t.topo, src, lane_images));
      parts.push_back(t.bridge->recv_embeddings(t.routes.encoder_sender(src), mb, expected, hidden, fopts));
      part_rows.push_back(parts.back().size(0));
    }
    totals.encoder_stall_ms += ms_since(t0);
    const at::Tensor image_rows = at::cat(parts).set_requires_grad(true);

    const at::Tensor loss = t.llm->loss_sum(make_text_batch(samples, t.comms.device), image_rows);
    (loss / global_loss_tokens).backward();
    totals.loss_sum += loss.item<double>();
    totals.images += static_cast<std::int64_t>(lane_images.size());

    if (sends_grads && image_rows.size(0) > 0) {
      const at::Tensor grad = image_rows.grad();
      int64_t offset = 0;
      for (size_t i = 0; i < sources.size(); ++i) {
        t.bridge->send_gradients(t.routes.encoder_sender(sources[i]), mb, grad.narrow(0, offset, part_rows[i]));
        offset += part_rows[i];
      }
    }
  }
  t.bridge->flush();
  return totals;
}

MicrobatchTotals run_colocated(Trainer& t, int iter, double global_loss_tokens) {
  MicrobatchTotals totals;
  const int lane = t.comms.llm->dp.rank;
  const int64_t hidden = t.recipe.llm.hidden_size;
  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb) {
    const auto samples = t.data.samples(microbatch_sample_indices(t.topo, iter, lane, mb));
    const auto images = images_of(samples);
    at::Tensor image_rows = at::empty({0, hidden}, at::TensorOptions().device(t.comms.device));
    if (!images.empty()) image_rows = t.encoder->forward(pack_images(images, patch_dim(t.recipe), t.comms.device));
    const at::Tensor loss = t.llm->loss_sum(make_text_batch(samples, t.comms.device), image_rows);
    (loss / global_loss_tokens).backward();
    totals.loss_sum += loss.item<double>();
    totals.images += static_cast<std::int64_t>(images.size());
  }
  return totals;
}

}  // namespace hetero
