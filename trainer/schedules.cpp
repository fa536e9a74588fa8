// Per-role microbatch schedules of one iteration (design §7 steps 1-3).
#include <chrono>
#include <deque>
#include <thread>

#include "hetero/regions.h"
#include "trainer.h"

namespace hetero {
namespace {

namespace R = regions;

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

at::Tensor encode(Trainer& t, const std::vector<const MockImage*>& images, int iter, int mb) {
  const auto hidden = t.recipe.llm.hidden_size;
  if (images.empty()) return at::empty({0, hidden}, at::TensorOptions().device(t.comms.device));
  PackedImages packed = [&] {
    auto r = t.timeline.region(R::kDataWait, iter, mb);
    return pack_images(images, patch_dim(t.recipe), t.comms.device);
  }();
  auto r = t.timeline.region(R::kEncoderForward, iter, mb);
  if (t.options.encoder_delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(t.options.encoder_delay_ms));
  return t.encoder->forward(packed);
}

// Keeps, for parity dumps, each sample's image rows and LLM input rows.
void record_dump(Trainer& t, int iter, const std::vector<std::uint64_t>& samples_idx,
                 const std::vector<MockSample>& samples, const at::Tensor& image_rows, const at::Tensor& inputs) {
  if (!t.dump.collecting(iter)) return;
  int64_t offset = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    int rows = 0;
    for (const auto& img : samples[k].images) rows += VisionEncoder::rows_per_image(img.grid_h, img.grid_w);
    if (rows > 0) t.dump.add("vision_proj", samples_idx[k], image_rows.narrow(0, offset, rows));
    offset += rows;
    t.dump.add("combined_embeddings", samples_idx[k], inputs[static_cast<int64_t>(k)]);
  }
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
    at::Tensor grad = at::empty({rows, hidden}, fopts);
    {
      auto r = t.timeline.region(R::kBridgeWait, iter, f.microbatch);
      const auto t0 = std::chrono::steady_clock::now();
      if (is_sender) {
        std::vector<at::Tensor> parts;
        for (size_t i = 0; i < lanes.size(); ++i)
          parts.push_back(t.bridge->recv_gradients(t.routes.lane_grad_sender(lanes[i]), f.microbatch,
                                                   f.rows_per_lane[i], hidden, fopts));
        grad = at::cat(parts);
      }
      broadcast(groups.tp, grad, 0);
      totals.bridge_wait_ms += ms_since(t0);
    }
    auto r = t.timeline.region(R::kEncoderBackward, iter, f.microbatch);
    f.output.backward(grad);
  };

  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb) {
    std::vector<const MockImage*> images;
    std::vector<std::vector<int>> rows_per_image(lanes.size());
    std::vector<std::vector<MockSample>> keep_alive;
    {
      auto r = t.timeline.region(R::kDataWait, iter, mb);
      for (size_t i = 0; i < lanes.size(); ++i) {
        keep_alive.push_back(t.data.samples(microbatch_sample_indices(t.topo, iter, lanes[i], mb)));
        auto share = replica_share(t.topo, replica, images_of(keep_alive.back()));
        rows_per_image[i] = rows_of(share);
        images.insert(images.end(), share.begin(), share.end());
      }
    }
    InFlight f{mb, encode(t, images, iter, mb), {}};
    for (const auto& r : rows_per_image) f.rows_per_lane.push_back(sum_of(r));
    if (is_sender) {
      auto r = t.timeline.region(R::kBridgeSend, iter, mb);
      int64_t offset = 0;
      for (size_t i = 0; i < lanes.size(); ++i) {
        const at::Tensor slice = f.output.narrow(0, offset, f.rows_per_lane[i]).detach();
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
    std::vector<std::uint64_t> indices;
    std::vector<MockSample> samples;
    TextBatch batch;
    {
      auto r = t.timeline.region(R::kDataWait, iter, mb);
      indices = microbatch_sample_indices(t.topo, iter, lane, mb);
      samples = t.data.samples(indices);
      batch = make_text_batch(samples, t.comms.device);
    }
    const auto lane_images = images_of(samples);

    std::vector<at::Tensor> parts;
    std::vector<int64_t> part_rows;
    {
      auto r = t.timeline.region(R::kLlmEncoderStall, iter, mb);
      const auto t0 = std::chrono::steady_clock::now();
      for (int src : sources) {
        const auto expected = rows_of(replica_share(t.topo, src, lane_images));
        parts.push_back(t.bridge->recv_embeddings(t.routes.encoder_sender(src), mb, expected, hidden, fopts));
        part_rows.push_back(parts.back().size(0));
      }
      totals.encoder_stall_ms += ms_since(t0);
    }
    const at::Tensor image_rows = at::cat(parts).set_requires_grad(true);

    at::Tensor loss;
    {
      auto r = t.timeline.region(R::kLlmForward, iter, mb);
      const at::Tensor inputs = t.llm->embed(batch.tokens, image_rows);
      if (sends_grads) record_dump(t, iter, indices, samples, image_rows, inputs);
      loss = t.llm->loss_sum(batch, inputs);
    }
    {
      auto r = t.timeline.region(R::kLlmBackward, iter, mb);
      (loss / global_loss_tokens).backward();
    }
    totals.loss_sum += loss.item<double>();
    totals.images += static_cast<std::int64_t>(lane_images.size());

    if (sends_grads && image_rows.size(0) > 0) {
      auto r = t.timeline.region(R::kBridgeSend, iter, mb);
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
  const auto& groups = *t.comms.llm;
  const int lane = groups.dp.rank;
  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb) {
    std::vector<std::uint64_t> indices;
    std::vector<MockSample> samples;
    TextBatch batch;
    {
      auto r = t.timeline.region(R::kDataWait, iter, mb);
      indices = microbatch_sample_indices(t.topo, iter, lane, mb);
      samples = t.data.samples(indices);
      batch = make_text_batch(samples, t.comms.device);
    }
    const auto images = images_of(samples);
    const at::Tensor image_rows = encode(t, images, iter, mb);
    at::Tensor loss;
    {
      auto r = t.timeline.region(R::kLlmForward, iter, mb);
      const at::Tensor inputs = t.llm->embed(batch.tokens, image_rows);
      if (groups.tp.rank == 0) record_dump(t, iter, indices, samples, image_rows, inputs);
      loss = t.llm->loss_sum(batch, inputs);
    }
    {
      // The encoder's backward runs inside this one: same graph.
      auto r = t.timeline.region(R::kLlmBackward, iter, mb);
      (loss / global_loss_tokens).backward();
    }
    totals.loss_sum += loss.item<double>();
    totals.images += static_cast<std::int64_t>(images.size());
  }
  return totals;
}

}  // namespace hetero
