/* libFuzzer harness: the safetensors reader (src/core/save.c, nyto_st_parse).
 * A parse that succeeds must describe ranges inside the input that do not
 * overlap; every byte of them and every metadata string is read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_save.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nyto_st_entry *es;
  char **meta;
  size_t n, nm;
  char err[512];
  if (nyto_st_parse(data, size, &es, &n, &meta, &nm, err, sizeof err) != 0) {
    if (strlen(err) == 0) abort(); /* a failure always says why */
    return 0;
  }
  volatile unsigned sum = 0;
  for (size_t k = 0; k < n; k++) {
    if (es[k].begin > es[k].end || es[k].end > size || es[k].ndim < 0 || es[k].ndim > NYTO_ST_MAXDIM) abort();
    for (uint64_t i = es[k].begin; i < es[k].end; i++) sum += data[i];
    sum += (unsigned)strlen(es[k].name);
    for (size_t j = 0; j < n; j++)
      if (j != k && es[j].begin < es[k].end && es[k].begin < es[j].end) abort();
  }
  for (size_t k = 0; k < 2 * nm; k++) sum += (unsigned)strlen(meta[k]);
  nyto_st_free(es, n, meta, nm);
  return 0;
}
