// dist.cpp -- nyto.distributed over c10d (torch.distributed's C++ core): a
// TCPStore rendezvous and a Gloo process group, behind the C ABI of nt_dist.h.
// Every entry catches std::exception and ..., leaves the reason in nt_error()
// and returns -1; no C++ exception crosses into C.
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <thread>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "nt.h"
#include "nt_dist.h"

struct nt_tensor { // the same definition as nt.cpp's
  at::Tensor t;
};

namespace {
c10::intrusive_ptr<c10d::Store> g_store;
c10::intrusive_ptr<c10d::ProcessGroupGloo> g_pg;
int g_rank = -1, g_world = 0;
std::chrono::milliseconds g_timeout(30000);

void need_group() {
  if (!g_pg) throw std::runtime_error("not initialized (call dist.init first)");
}

void wait(const c10::intrusive_ptr<c10d::Work> &w) {
  if (!w->wait(g_timeout)) throw std::runtime_error("collective did not complete");
}

// The shape/dtype header of t: {dtype, ndim, sizes..., 0...}, NT_MAXDIM+2 int64s.
at::Tensor header(const at::Tensor &t) {
  at::Tensor h = at::zeros({NT_MAXDIM + 2}, at::kLong);
  auto a = h.accessor<int64_t, 1>();
  a[0] = (int64_t)t.scalar_type();
  a[1] = t.dim();
  for (int64_t d = 0; d < t.dim() && d < NT_MAXDIM; d++) a[2 + d] = t.size(d);
  return h;
}

std::string describe(const at::Tensor &h) {
  auto a = h.accessor<int64_t, 1>();
  std::string s = std::string(c10::toString((c10::ScalarType)a[0])) + "[";
  for (int64_t d = 0; d < a[1]; d++) s += (d ? "x" : "") + std::to_string(a[2 + d]);
  return s + "]";
}

// Every rank's header equal to this one's (one small all_gather).
void check_same(const at::Tensor &t) {
  at::Tensor h = header(t);
  std::vector<at::Tensor> in{h};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g_world; r++) out[0].push_back(at::empty_like(h));
  wait(g_pg->allgather(out, in));
  for (int r = 0; r < g_world; r++)
    if (!out[0][r].equal(h))
      throw std::runtime_error("rank " + std::to_string(r) + " has a " + describe(out[0][r]) + " tensor, rank " +
                               std::to_string(g_rank) + " a " + describe(h) + " one (shapes and dtypes must match)");
}

void check_peer(int peer, const char *what) {
  if (peer < 0 || peer >= g_world)
    throw std::runtime_error(std::string(what) + " " + std::to_string(peer) + " out of range (0.." +
                             std::to_string(g_world - 1) + ")");
}

at::Tensor &dense(nt_tensor *x) {
  if (!x->t.is_contiguous()) throw std::runtime_error("the tensor must be contiguous");
  return x->t;
}
} // namespace

#define DIST_TRY(...)                               \
  try {                                             \
    __VA_ARGS__;                                    \
    return 0;                                       \
  } catch (const c10::Error &e) {                   \
    nt_set_error_line(e.what_without_backtrace());               \
  } catch (const std::exception &e) {               \
    nt_set_error_line(e.what());                                 \
  } catch (...) {                                   \
    nt_set_error("unknown C++ exception");          \
  }                                                 \
  return -1;

extern "C" int nt_dist_init(int rank, int world, const char *addr, int port, double timeout_s) {
  DIST_TRY({
    if (g_pg) throw std::runtime_error("already initialized (call dist.destroy first)");
    if (world < 1) throw std::runtime_error("WORLD_SIZE must be at least 1");
    if (rank < 0 || rank >= world) throw std::runtime_error("RANK out of range");
    if (port < 1 || port > 65535) throw std::runtime_error("MASTER_PORT out of range");
    auto ms = std::chrono::milliseconds((int64_t)(timeout_s * 1000));
    c10d::TCPStoreOptions o;
    o.port = (uint16_t)port;
    // under torchrun the agent hosts the store on MASTER_PORT: every rank is a client
    const char *agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    o.isServer = rank == 0 && !(agent && std::string(agent) == "True");
    o.numWorkers = (size_t)world;
    o.waitWorkers = true;
    o.timeout = ms;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(addr), o);
    // the keys of torch.distributed.init_process_group's default group (torch 1.13),
    // so that nyto ranks and Python ranks meet in one group
    auto store = c10::make_intrusive<c10d::PrefixStore>("default_pg", tcp);
    auto pgstore = c10::make_intrusive<c10d::PrefixStore>("0", store);
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = ms;
    const char *ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pgstore, rank, world, opts);
    // Python's _store_based_barrier and sequence number, as init_process_group does
    const std::string key = "store_based_barrier_key:1";
    store->add(key, 1);
    auto start = std::chrono::steady_clock::now();
    while (store->add(key, 0) != world) {
      if (std::chrono::steady_clock::now() - start > ms)
        throw std::runtime_error("timed out waiting for the other ranks to join");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pg->setSequenceNumberForGroup();
    g_store = tcp;
    g_pg = pg;
    g_rank = rank;
    g_world = world;
    g_timeout = ms;
  })
}

extern "C" int nt_dist_destroy(void) {
  DIST_TRY({
    g_pg.reset();
    g_store.reset();
    g_rank = -1;
    g_world = 0;
  })
}

extern "C" int nt_dist_initialized(void) { return g_pg ? 1 : 0; }
extern "C" int nt_dist_rank(void) { return g_rank; }
extern "C" int nt_dist_world_size(void) { return g_world; }

extern "C" int nt_dist_barrier(void) {
  DIST_TRY({
    need_group();
    wait(g_pg->barrier());
  })
}

extern "C" int nt_dist_all_reduce(nt_tensor *x, int op, int check) {
  DIST_TRY({
    need_group();
    at::Tensor &t = dense(x);
    if (check) check_same(t);
    c10d::AllreduceOptions o;
    o.timeout = g_timeout;
    switch (op) {
    case NT_DIST_SUM: case NT_DIST_AVG: o.reduceOp = c10d::ReduceOp::SUM; break;
    case NT_DIST_MIN: o.reduceOp = c10d::ReduceOp::MIN; break;
    case NT_DIST_MAX: o.reduceOp = c10d::ReduceOp::MAX; break;
    case NT_DIST_PRODUCT: o.reduceOp = c10d::ReduceOp::PRODUCT; break;
    default: throw std::runtime_error("unknown reduction");
    }
    std::vector<at::Tensor> v{t};
    wait(g_pg->allreduce(v, o));
    if (op == NT_DIST_AVG) {
      at::NoGradGuard ng;
      if (at::isIntegralType(t.scalar_type(), true)) t.div_(g_world, "floor");
      else t.div_(g_world);
    }
  })
}

extern "C" int nt_dist_broadcast(nt_tensor *x, int src, int check) {
  DIST_TRY({
    need_group();
    check_peer(src, "src");
    at::Tensor &t = dense(x);
    if (check) check_same(t);
    c10d::BroadcastOptions o;
    o.rootRank = src;
    o.timeout = g_timeout;
    std::vector<at::Tensor> v{t};
    wait(g_pg->broadcast(v, o));
  })
}

extern "C" int nt_dist_all_gather(nt_tensor *x, nt_tensor **out, int check) {
  std::vector<nt_tensor *> made;
  try {
    need_group();
    at::Tensor &t = dense(x);
    if (check) check_same(t);
    std::vector<at::Tensor> in{t};
    std::vector<std::vector<at::Tensor>> res(1);
    for (int r = 0; r < g_world; r++) res[0].push_back(at::empty_like(t));
    wait(g_pg->allgather(res, in));
    for (int r = 0; r < g_world; r++) made.push_back(new nt_tensor{res[0][r]});
    for (int r = 0; r < g_world; r++) out[r] = made[r];
    return 0;
  } catch (const c10::Error &e) {
    nt_set_error_line(e.what_without_backtrace());
  } catch (const std::exception &e) {
    nt_set_error_line(e.what());
  } catch (...) {
    nt_set_error("unknown C++ exception");
  }
  for (nt_tensor *m : made) delete m;
  return -1;
}

extern "C" int nt_dist_send(nt_tensor *x, int dst, int check) {
  DIST_TRY({
    need_group();
    check_peer(dst, "dst");
    if (dst == g_rank) throw std::runtime_error("dst is this rank");
    at::Tensor &t = dense(x);
    if (check) {
      std::vector<at::Tensor> h{header(t)};
      wait(g_pg->send(h, dst, 1));
    }
    std::vector<at::Tensor> v{t};
    wait(g_pg->send(v, dst, 0));
  })
}

extern "C" int nt_dist_recv(nt_tensor *x, int src, int check) {
  DIST_TRY({
    need_group();
    check_peer(src, "src");
    if (src == g_rank) throw std::runtime_error("src is this rank");
    at::Tensor &t = dense(x);
    if (check) {
      at::Tensor mine = header(t);
      std::vector<at::Tensor> h{at::empty_like(mine)};
      wait(g_pg->recv(h, src, 1));
      if (!h[0].equal(mine)) {
        // drain the payload the sender will send (its shape and dtype are in its header)
        auto a = h[0].accessor<int64_t, 1>();
        std::vector<int64_t> sz;
        for (int64_t d = 0; d < a[1] && d < NT_MAXDIM; d++) sz.push_back(a[2 + d]);
        std::vector<at::Tensor> sink{at::empty(sz, at::TensorOptions().dtype((c10::ScalarType)a[0]))};
        wait(g_pg->recv(sink, src, 0));
        throw std::runtime_error("rank " + std::to_string(src) + " sent a " + describe(h[0]) +
                                 " tensor into a " + describe(mine) + " one (shapes and dtypes must match)");
      }
    }
    std::vector<at::Tensor> v{t};
    wait(g_pg->recv(v, src, 0));
  })
}
