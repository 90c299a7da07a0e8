/* libFuzzer harness: the pickle machine alone (src/core/pickle.c,
 * nyto_pickle_run) on raw pickle bytes.  Storage records come from one
 * 4 KiB heap block: key "<n>" (digits) is n % 4097 bytes of it, a key
 * starting with 9 is "damaged", anything else is missing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_pickle.h"
#include "walk.h"

static unsigned char *store;

static int record(void *ctx, const char *key, size_t keylen, const unsigned char **data, size_t *len, uint32_t *crc) {
  (void)ctx;
  *crc = 0;
  if (keylen == 0 || keylen > 6) return 1;
  size_t v = 0;
  for (size_t k = 0; k < keylen; k++) {
    if (key[k] < '0' || key[k] > '9') return 1;
    v = v * 10 + (size_t)(key[k] - '0');
  }
  if (key[0] == '9') return 2;
  *data = store;
  *len = v % 4097;
  return key[0] == '8' ? 3 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!store) {
    store = malloc(4096);
    for (int k = 0; k < 4096; k++) store[k] = (unsigned char)(k * 7);
  }
  nyto_pickle p;
  char err[512];
  if (nyto_pickle_run(data, size, record, NULL, &p, err, sizeof err) != 0) {
    if (strlen(err) == 0) abort();
    return 0;
  }
  walk_check(&p);
  nyto_pickle_free(&p);
  return 0;
}
