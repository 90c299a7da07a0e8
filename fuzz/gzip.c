/* libFuzzer harness: the gzip reader of nyto.data (src/core/io.c,
 * nyto_gunzip), output capped at 1 MiB.  (The IDX header is parsed in Lua,
 * lua/nyto/data.lua, over the string this returns.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n;
  char err[512];
  unsigned char *out = nyto_gunzip(data, size, (size_t)1 << 20, &n, "fuzz", err, sizeof err);
  if (!out) {
    if (strlen(err) == 0) abort();
    return 0;
  }
  if (n > ((size_t)1 << 20)) abort();
  volatile unsigned sum = 0;
  for (size_t k = 0; k < n; k++) sum += out[k];
  free(out);
  return 0;
}
