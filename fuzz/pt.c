/* libFuzzer harness: the .pt reader (src/core/pickle.c, nyto_pt_parse): the
 * zip directory, the records, the pickle machine.  CRC-32s are skipped
 * (NYTO_PT_NOCRC) so that mutations reach the pickle; then the same input
 * is read once more with them.  A parse that succeeds must give a graph whose
 * every index is in range, storages inside the input and tensors inside their
 * storages; every byte of every storage is read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_pickle.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nyto_pickle p;
  char err[512];
  if (nyto_pt_parse(data, size, NYTO_PT_NOCRC, &p, err, sizeof err) != 0) {
    if (strlen(err) == 0) abort();
    return 0;
  }
  for (size_t k = 0; k < p.nstorages; k++) {
    const nyto_pk_storage *s = &p.storages[k];
    if (s->data < data || s->data > data + size) abort();
  }
  walk_check(&p);
  nyto_pickle_free(&p);
  if (nyto_pt_parse(data, size, 0, &p, err, sizeof err) == 0) {
    walk_check(&p);
    nyto_pickle_free(&p);
  }
  return 0;
}
