// blob.cpp -- tensors over host memory (nt_blob.h).  Kept apart from nt.cpp
// so that the embedding API builds without recompiling the op table.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include "nt_blob.h"

struct nt_tensor { // the same definition as nt.cpp's
  at::Tensor t;
};

namespace {
struct Release {
  void (*fn)(void *);
  void *ctx;
  bool done = false;
  void operator()() {
    if (!done && fn) fn(ctx);
    done = true;
  }
};

at::ScalarType scalar_type(int dtype) {
  switch (dtype) {
    case NT_FLOAT64: return at::kDouble;
    case NT_INT64: return at::kLong;
    case NT_BOOL: return at::kBool;
    default: return at::kFloat;
  }
}

}  // namespace

extern "C" int nt_from_blob(void *data, const int64_t *sizes, int ndim, int dtype, void (*release)(void *), void *ctx,
                            nt_tensor **out) {
  // shared by the deleter (which runs when the storage dies, or when
  // from_blob throws after making its DataPtr) and this frame (which runs it
  // when from_blob throws before): release runs exactly once either way
  std::shared_ptr<Release> r;
  try {
    r = std::make_shared<Release>(Release{release, ctx});
    auto deleter = [r](void *) { (*r)(); };
    at::IntArrayRef sz(sizes, ndim);
    at::Tensor t = at::from_blob(data, sz, deleter, at::TensorOptions().dtype(scalar_type(dtype)));
    *out = new nt_tensor{std::move(t)};
    return 0;
  } catch (const c10::Error &e) {
    nt_set_error_line(e.what_without_backtrace());
  } catch (const std::exception &e) {
    nt_set_error_line(e.what());
  } catch (...) {
    nt_set_error("unknown C++ exception");
  }
  if (r) (*r)();
  else if (release) release(ctx); // the state itself could not be allocated
  return -1;
}
