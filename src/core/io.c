/* io.c -- whole-file reads, gunzipped with zlib when the file is gzip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nyto_core.h"

/* The largest file (after gunzipping) read in full: 2 GiB, a real cap (the
 * buffer never grows past it).  nyto_read_set_limit lowers it (tests). */
static size_t read_limit = (size_t)1 << 31;

size_t nyto_read_set_limit(size_t max_bytes) {
  size_t old = read_limit;
  if (max_bytes > 0 && max_bytes <= ((size_t)1 << 31)) read_limit = max_bytes;
  return old;
}

unsigned char *nyto_read_file(const char *path, size_t *len, char *err, size_t errlen) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno ? errno : ENOENT));
    return NULL;
  }
  size_t cap = read_limit < ((size_t)1 << 20) ? read_limit : ((size_t)1 << 20), n = 0;
  unsigned char *buf = malloc(cap);
  if (!buf) {
    gzclose(f);
    snprintf(err, errlen, "out of memory reading %s", path);
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      if (cap >= read_limit) {
        /* full at the cap: an error only when more data follows */
        unsigned char probe;
        int more = gzread(f, &probe, 1);
        if (more == 0) break;
        free(buf);
        gzclose(f);
        snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", path, read_limit);
        return NULL;
      }
      size_t ncap = cap * 2 > read_limit ? read_limit : cap * 2;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        gzclose(f);
        snprintf(err, errlen, "out of memory reading %s", path);
        return NULL;
      }
      buf = nb;
      cap = ncap;
    }
    int r = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
    if (r < 0) {
      int code;
      const char *m = gzerror(f, &code);
      snprintf(err, errlen, "%s is corrupt or truncated (%s)", path, m ? m : "read error");
      free(buf);
      gzclose(f);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  /* gzread reports a truncated stream only through gzerror */
  int code = Z_OK;
  gzerror(f, &code);
  gzclose(f);
  if (code != Z_OK && code != Z_STREAM_END) {
    snprintf(err, errlen, "%s is corrupt or truncated", path);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}
