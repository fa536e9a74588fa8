// Per-role microbatch schedules of one iteration (design §7 steps 1-3).
#include <chrono>
#include <algorithm>
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

std::vector<int> rows_of(const std::vector<ImageRef>& images) {
  std::vector<int> rows;
  for (const auto& img : images) rows.push_back(img.meta.rows());
  return rows;
}

// The images one encoder replica encodes for `lane` in a microbatch: all of
// them under fan-out, its contiguous share under fan-in.
std::vector<ImageRef> replica_share(const JobTopology& topo, int replica, const std::vector<ImageRef>& lane_images) {
  const int k = topo.encoders_per_lane();
  if (k == 1) return lane_images;
  auto [b, e] = fan_in_image_range(static_cast<int>(lane_images.size()), k, replica % k);
  return {lane_images.begin() + b, lane_images.begin() + e};
}

// Decoded by the loader's threads ahead of the step (waits only if they are
// behind), on the encoder's tp rank 0 only: the replica's other tp ranks get
// the pixels by broadcast instead of decoding them again.
ImageBatch image_batch(Trainer& t, const std::vector<ImageRef>& images, int iter, int mb) {
  auto r = t.timeline.region(R::kDataWait, iter, mb);
  const Group* tp = t.comms.encoder ? &t.comms.encoder->tp : nullptr;
  if (!tp || tp->size() == 1 || tp->rank == 0) {
    std::vector<ImagePixels> pixels;
    for (const ImageRef& img : images) pixels.push_back(t.data->image(img.sample, img.image));
    ImageBatch b = make_image_batch(pixels, patch_dim(t.recipe), t.comms.device);
    if (tp && tp->size() > 1 && b.num_patches() > 0) broadcast(*tp, b.pixels, 0);
    return b;
  }
  std::vector<ImageMeta> metas;
  for (const ImageRef& img : images) metas.push_back(img.meta);
  ImageBatch b = empty_image_batch(metas, patch_dim(t.recipe), t.comms.device);
  if (b.num_patches() > 0) broadcast(*tp, b.pixels, 0);
  return b;
}

at::Tensor encode(Trainer& t, const ImageBatch& images, int iter, int mb) {
  const auto hidden = t.recipe.llm.hidden_size;
  if (images.num_images() == 0) return at::empty({0, hidden}, at::TensorOptions().device(t.comms.device));
  auto r = t.timeline.region(R::kEncoderForward, iter, mb);
  if (t.options.encoder_delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(t.options.encoder_delay_ms));
  return t.encoder->forward(images);
}

// Keeps, for parity dumps, each sample's image rows and LLM input rows.
void record_dump(Trainer& t, int iter, const std::vector<std::uint64_t>& samples_idx,
                 const std::vector<Sample>& samples, const at::Tensor& image_rows, const at::Tensor& inputs) {
  if (!t.dump.collecting(iter)) return;
  int64_t offset = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    int rows = 0;
    for (const auto& img : samples[k].images) rows += img.rows();
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
    std::vector<int64_t> rows_per_lane;
  };
  std::deque<InFlight> in_flight;

  // Gradients for the oldest microbatch: from each lane, joined, shared with
  // the replica's other tp ranks, then backward.
  auto finish_oldest = [&]() {
    InFlight f = std::move(in_flight.front());
    in_flight.pop_front();
    int64_t rows = 0;
    for (int64_t r : f.rows_per_lane) rows += r;
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
    // One packed forward for the images of all this replica's lanes.
    std::vector<std::vector<int>> rows_per_image(lanes.size());
    std::vector<ImageBatch> lane_batches;
    for (size_t i = 0; i < lanes.size(); ++i) {
      const auto indices = microbatch_sample_indices(t.topo, iter, lanes[i], mb);
      const auto samples = [&] {
        auto r = t.timeline.region(R::kDataWait, iter, mb);
        return t.data->samples(indices);
      }();
      const auto share = replica_share(t.topo, replica, images_of(indices, samples));
      rows_per_image[i] = rows_of(share);
      lane_batches.push_back(image_batch(t, share, iter, mb));
    }
    const LaneMerge merged = merge_lanes(lane_batches);
    InFlight f{mb, encode(t, merged.batch, iter, mb), merged.rows_per_lane};
    if (is_sender) {
      auto r = t.timeline.region(R::kBridgeSend, iter, mb);
      const auto per_lane = split_rows_per_lane(f.output.detach(), merged);
      for (size_t i = 0; i < lanes.size(); ++i)
        for (int dst : t.routes.lane_receivers(lanes[i]))
          totals.bridge_bytes += t.bridge->send_embeddings(dst, mb, rows_per_image[i], per_lane[i]);
    }
    // A frozen encoder (vision and projector) gets no gradients back: nothing waits.
    if (!t.recipe.train.encoder_trains()) continue;
    in_flight.push_back(std::move(f));
    // Bounded run-ahead: at most encoder_run_ahead microbatches await gradients.
    while (static_cast<int>(in_flight.size()) >= t.recipe.train.encoder_run_ahead) finish_oldest();
  }
  while (!in_flight.empty()) finish_oldest();
  t.p2p.flush();
  return totals;
}

// The LLM side of an iteration, hetero or colocated: 1F1B over the lane's
// microbatches. Stage 0 gets its image rows from the bridge (hetero) or its
// own encoder (colocated); stages pass activations forward and their
// gradients back; the last stage computes the loss.
MicrobatchTotals run_llm_pipeline(Trainer& t, int iter, double global_loss_tokens) {
  MicrobatchTotals totals;
  const auto& g = *t.comms.llm;
  const int lane = g.dp.rank, stage = g.pp.rank, stages = g.pp.size();
  const bool first = stage == 0, last = stage == stages - 1;
  const bool sends_grads = g.tp.rank == 0;  // and receives the image rows from the bridge
  const RankGrid grid = t.topo.llm.grid();
  const int tp = grid.coord(t.comms.rank, "tp"), cp = grid.coord(t.comms.rank, "cp");
  const int prev = first ? -1 : grid.rank_at({tp, cp, lane, stage - 1});
  const int next = last ? -1 : grid.rank_at({tp, cp, lane, stage + 1});
  const auto sources = t.topo.encoder_replicas_of_lane(lane);
  const int64_t hidden = t.recipe.llm.hidden_size;
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(t.comms.device);
  const int m = t.topo.num_microbatches();
  enum Tag { kActivation = 0, kGradient = 1 };
  auto tag = [](int mb, Tag kind) { return mb * 2 + kind; };

  struct InFlight {
    at::Tensor input;       // received activations (later stages), a leaf
    at::Tensor image_rows;  // stage 0: rows from the bridge, a leaf (hetero)
    std::vector<int64_t> part_rows;
    at::Tensor output;      // this stage's output, or the loss on the last stage
  };
  std::vector<InFlight> in_flight(m);

  auto forward = [&](int mb) {
    InFlight& f = in_flight[mb];
    std::vector<std::uint64_t> indices;
    std::vector<Sample> samples;
    TextBatch batch;
    {
      auto r = t.timeline.region(R::kDataWait, iter, mb);
      indices = microbatch_sample_indices(t.topo, iter, lane, mb);
      samples = t.data->samples(indices);  // no pixels: image_batch() reads those where they are encoded
      batch = make_text_batch(samples, t.comms.device);
    }
    const auto lane_images = images_of(indices, samples);
    if (first && t.topo.hetero()) {
      auto r = t.timeline.region(R::kLlmEncoderStall, iter, mb);
      const auto t0 = std::chrono::steady_clock::now();
      // tp rank 0 receives each source's rows once and shares them with its
      // tp group; the others know from their data how many rows to expect.
      std::vector<at::Tensor> parts;
      for (int src : sources) {
        const auto expected = rows_of(replica_share(t.topo, src, lane_images));
        if (sends_grads) {
          parts.push_back(t.bridge->recv_embeddings(t.routes.encoder_sender(src), mb, expected, hidden, fopts));
        } else {
          int64_t rows = 0;
          for (int e : expected) rows += e;
          parts.push_back(at::empty({rows, hidden}, fopts));
        }
        f.part_rows.push_back(parts.back().size(0));
      }
      at::Tensor image_rows = at::cat(parts);
      if (g.tp.size() > 1 && image_rows.size(0) > 0) broadcast(g.tp, image_rows, 0);
      totals.encoder_stall_ms += ms_since(t0);
      // Gradients go back only to an encoder that trains.
      f.image_rows = image_rows.set_requires_grad(t.recipe.train.encoder_trains());
    } else if (!first) {
      auto r = t.timeline.region(R::kPpWait, iter, mb);
      f.input = at::empty({batch.tokens.size(0), t.llm->stage_sequence_length(batch.tokens.size(1)), hidden}, fopts);
      t.p2p.recv(f.input, prev, tag(mb, kActivation));
      f.input.set_requires_grad(true);
    }
    // Colocated: this rank's own encoder feeds stage 0, inside the graph.
    const at::Tensor image_rows =
        first && !t.topo.hetero() ? encode(t, image_batch(t, lane_images, iter, mb), iter, mb) : f.image_rows;
    {
      auto r = t.timeline.region(R::kLlmForward, iter, mb);
      at::Tensor x = f.input;
      if (first) {
        x = t.llm->embed(batch.tokens, image_rows, t.recipe.data.image_token_id);
        if (sends_grads) record_dump(t, iter, indices, samples, image_rows, x);
      }
      x = t.llm->layers(x, 1.0 / t.topo.global_batch_size);  // each sample is one sequence
      f.output = last ? t.llm->loss_sum(batch, x) : x;
    }
    if (last) {
      // Summed on the device: the host reads it once per iteration.
      const at::Tensor loss = f.output.detach().to(at::kDouble);
      totals.loss_sum = totals.loss_sum.defined() ? totals.loss_sum + loss : loss;
      totals.images += static_cast<std::int64_t>(lane_images.size());
    } else {
      auto r = t.timeline.region(R::kPpSend, iter, mb);
      t.p2p.send(f.output.detach().contiguous(), next, tag(mb, kActivation));
    }
  };

  auto backward = [&](int mb) {
    InFlight& f = in_flight[mb];
    // With a frozen LLM, a microbatch may need no backward at all (no
    // trainable encoder rows in it): its output then carries no graph.
    if (last) {
      auto r = t.timeline.region(R::kLlmBackward, iter, mb);
      if (f.output.requires_grad()) (f.output / global_loss_tokens).backward();
    } else {
      at::Tensor grad = at::empty_like(f.output);
      {
        auto r = t.timeline.region(R::kPpWait, iter, mb);
        t.p2p.recv(grad, next, tag(mb, kGradient));
      }
      auto r = t.timeline.region(R::kLlmBackward, iter, mb);
      if (f.output.requires_grad()) f.output.backward(grad);
    }
    if (!first) {
      auto r = t.timeline.region(R::kPpSend, iter, mb);
      t.p2p.send(f.input.grad(), prev, tag(mb, kGradient));
    } else if (t.topo.hetero() && sends_grads && f.image_rows.requires_grad() && f.image_rows.size(0) > 0) {
      auto r = t.timeline.region(R::kBridgeSend, iter, mb);
      const at::Tensor grad = f.image_rows.grad();
      int64_t offset = 0;
      for (size_t i = 0; i < sources.size(); ++i) {
        t.bridge->send_gradients(t.routes.encoder_sender(sources[i]), mb, grad.narrow(0, offset, f.part_rows[i]));
        offset += f.part_rows[i];
      }
    }
    f = InFlight{};  // free the microbatch's activations
  };

  // 1F1B: stage s runs (stages - s - 1) forwards ahead, then alternates.
  const int warmup = std::min(stages - stage - 1, m);
  for (int mb = 0; mb < warmup; ++mb) forward(mb);
  for (int i = 0; i < m - warmup; ++i) {
    forward(warmup + i);
    backward(i);
  }
  for (int mb = m - warmup; mb < m; ++mb) backward(mb);
  t.p2p.flush();
  return totals;
}

}  // namespace hetero
