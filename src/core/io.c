/* io.c -- whole-file reads, gunzipped with zlib when the file is gzip. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

unsigned char *nyto_gunzip(const unsigned char *in, size_t inlen, size_t limit, size_t *outlen, const char *name,
                           char *err, size_t errlen) {
  *outlen = 0;
  if (inlen > UINT32_MAX) {
    snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", name, limit);
    return NULL;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    snprintf(err, errlen, "out of memory reading %s", name);
    return NULL;
  }
  /* one byte past the limit tells "too large" from "exactly the limit" */
  size_t hard = limit + 1, cap = inlen < hard / 4 ? inlen * 4 : hard, n = 0;
  if (cap < 4096) cap = hard < 4096 ? hard : 4096;
  unsigned char *out = malloc(cap);
  if (!out) {
    inflateEnd(&z);
    snprintf(err, errlen, "out of memory reading %s", name);
    return NULL;
  }
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)inlen;
  for (;;) {
    if (n == cap) {
      if (cap >= hard) {
        snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", name, limit);
        goto fail;
      }
      size_t ncap = cap > hard / 2 ? hard : cap * 2;
      unsigned char *nb = realloc(out, ncap);
      if (!nb) {
        snprintf(err, errlen, "out of memory reading %s", name);
        goto fail;
      }
      out = nb;
      cap = ncap;
    }
    size_t room = cap - n > UINT32_MAX ? UINT32_MAX : cap - n;
    z.next_out = out + n;
    z.avail_out = (uInt)room;
    int rc = inflate(&z, Z_NO_FLUSH);
    n += room - z.avail_out;
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      /* another member (gzip -d reads them back to back); anything else is garbage */
      if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
        inflateReset(&z);
        continue;
      }
      snprintf(err, errlen, "%s is corrupt (%u bytes of trailing garbage after its gzip data)", name, z.avail_in);
      goto fail;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.avail_out == 0) continue; /* room is made above */
    if (rc == Z_BUF_ERROR) {
      snprintf(err, errlen, "%s is corrupt or truncated (its gzip data ends early)", name);
      goto fail;
    }
    snprintf(err, errlen, "%s is corrupt or truncated (%s)", name, z.msg ? z.msg : "gzip error");
    goto fail;
  }
  inflateEnd(&z);
  if (n > limit) {
    snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", name, limit);
    free(out);
    return NULL;
  }
  *outlen = n;
  return out;
fail:
  inflateEnd(&z);
  free(out);
  return NULL;
}

unsigned char *nyto_read_file(const char *path, size_t *len, char *err, size_t errlen) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno ? errno : ENOENT));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "cannot read %s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
    fclose(f);
    return NULL;
  }
  /* the raw bytes: at most the cap (a gzip file is smaller than its data) */
  size_t cap = read_limit < ((size_t)1 << 20) ? read_limit : ((size_t)1 << 20), n = 0;
  if (st.st_size > 0 && (uint64_t)st.st_size < read_limit) cap = (size_t)st.st_size + 1;
  unsigned char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    snprintf(err, errlen, "out of memory reading %s", path);
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      if (cap > read_limit) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", path, read_limit);
        return NULL;
      }
      size_t ncap = cap * 2 > read_limit + 1 ? read_limit + 1 : cap * 2;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "out of memory reading %s", path);
        return NULL;
      }
      buf = nb;
      cap = ncap;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
      }
      break;
    }
  }
  fclose(f);
  if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    unsigned char *out = nyto_gunzip(buf, n, read_limit, len, path, err, errlen);
    free(buf);
    return out;
  }
  if (n > read_limit) {
    free(buf);
    snprintf(err, errlen, "%s is too large to read (more than %zu bytes)", path, read_limit);
    return NULL;
  }
  *len = n;
  return buf;
}
