/* save.c -- atomic writes, read-only maps and the safetensors header, for
 * nyto.save / nyto.load.  The JSON is libcjson's (Debian libcjson-dev). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "nyto_save.h"

/* dir and base name of path (dir "." when none) */
static void split_path(const char *path, char *dir, size_t dlen, const char **base) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, dlen, ".");
    *base = path;
  } else if (slash == path) {
    snprintf(dir, dlen, "/");
    *base = slash + 1;
  } else {
    snprintf(dir, dlen, "%.*s", (int)(slash - path), path);
    *base = slash + 1;
  }
}

/* A process that is gone, or a zombie (killed, not yet reaped). */
static int pid_dead(long pid) {
  if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%ld/stat", pid);
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Temporaries are named ".<base>.nyto-tmp-<pid>-XXXXXX": one whose writer
 * is dead (kill(pid, 0) fails with ESRCH) is a leftover and is removed. */
static void clean_stale(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  if (!d) return;
  char prefix[PATH_MAX];
  snprintf(prefix, sizeof prefix, ".%s.nyto-tmp-", base);
  size_t pl = strlen(prefix);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, pl) != 0) continue;
    char *end;
    long pid = strtol(e->d_name + pl, &end, 10);
    if (end == e->d_name + pl || *end != '-' || pid <= 0) continue;
    if (pid != (long)getpid() && pid_dead(pid)) {
      char full[PATH_MAX];
      snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
      unlink(full);
    }
  }
  closedir(d);
}

/* fsync of the file and of its folder: on, except in bench/save_load.sh's
 * "without fsync" figures (core.save_sync(false)) */
static int save_sync = 1;
int nyto_save_set_sync(int on) {
  int old = save_sync;
  save_sync = on != 0;
  return old;
}

int nyto_write_atomic(const char *path, const nyto_chunk *chunks, int n, char *err, size_t errlen) {
  char dir[PATH_MAX], tmp[PATH_MAX];
  const char *base;
  if (strlen(path) >= PATH_MAX - 64) {
    snprintf(err, errlen, "path too long");
    return -1;
  }
  split_path(path, dir, sizeof dir, &base);
  if (!*base) {
    snprintf(err, errlen, "is a directory");
    return -1;
  }
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "is a directory");
    return -1;
  }
  clean_stale(dir, base);
  snprintf(tmp, sizeof tmp, "%s/.%s.nyto-tmp-%ld-XXXXXX", dir, base, (long)getpid());
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    return -1;
  }
  for (int k = 0; k < n; k++) {
    const char *p = chunks[k].data;
    size_t left = chunks[k].len;
    while (left > 0) {
      ssize_t w = write(fd, p, left > ((size_t)1 << 30) ? ((size_t)1 << 30) : left);
      if (w < 0) {
        if (errno == EINTR) continue;
        snprintf(err, errlen, "cannot write: %s", strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
      }
      p += w;
      left -= (size_t)w;
    }
  }
  if (save_sync && fsync(fd) != 0) {
    snprintf(err, errlen, "cannot fsync: %s", strerror(errno));
    close(fd);
    unlink(tmp);
    return -1;
  }
  fchmod(fd, 0644 & ~0); /* mkstemp makes 0600; a saved file reads like any other */
  close(fd);
  if (rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot rename the temporary file: %s", strerror(errno));
    unlink(tmp);
    return -1;
  }
  int dfd = save_sync ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int nyto_map_file(const char *path, const unsigned char **data, size_t *len, char *err, size_t errlen) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "%s", strerror(e));
    return e == ENOENT ? 1 : -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "is a directory");
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "not a regular file");
    close(fd);
    return -1;
  }
  if (st.st_size == 0) {
    close(fd);
    return 0;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    snprintf(err, errlen, "cannot map: %s", strerror(errno));
    return -1;
  }
  *data = p;
  *len = (size_t)st.st_size;
  return 0;
}

void nyto_unmap_file(const unsigned char *data, size_t len) {
  if (data && len) munmap((void *)data, len);
}

static const char *const st_dtypes[] = {"F32", "F64", "I64", "BOOL"};
static const int st_elsize[] = {4, 8, 8, 1};
#define ST_MAX_HEADER ((uint64_t)100 << 20) /* as the safetensors library */

void nyto_st_free(nyto_st_entry *entries, size_t n, char **metadata, size_t nmeta) {
  if (entries) {
    for (size_t k = 0; k < n; k++) free(entries[k].name);
    free(entries);
  }
  if (metadata) {
    for (size_t k = 0; k < 2 * nmeta; k++) free(metadata[k]);
    free(metadata);
  }
}

static int cmp_begin(const void *a, const void *b) {
  const nyto_st_entry *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

#define FAIL(...)                          \
  do {                                     \
    snprintf(err, errlen, __VA_ARGS__);    \
    goto fail;                             \
  } while (0)

int nyto_st_parse(const unsigned char *buf, size_t len, nyto_st_entry **entries, size_t *n, char ***metadata,
                  size_t *nmeta, char *err, size_t errlen) {
  nyto_st_entry *es = NULL, *sorted = NULL;
  char **meta = NULL;
  size_t ne = 0, nm = 0;
  cJSON *root = NULL;
  *entries = NULL;
  *metadata = NULL;
  *n = *nmeta = 0;
  if (len < 8) FAIL("truncated: %zu bytes, fewer than the 8 of the header length", len);
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | buf[k];
  if (hlen > len - 8) FAIL("header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)hlen, len);
  if (hlen > ST_MAX_HEADER) FAIL("header length %llu is larger than 100 MiB", (unsigned long long)hlen);
  if (hlen == 0 || buf[8] != '{') FAIL("the header is not a JSON object");
  root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
  if (!root || !cJSON_IsObject(root)) FAIL("the header is not valid JSON");
  size_t count = 0;
  for (cJSON *it = root->child; it; it = it->next) count++;
  es = calloc(count + 1, sizeof *es);
  if (!es) FAIL("out of memory");
  uint64_t data_len = len - 8 - hlen;
  for (cJSON *it = root->child; it; it = it->next) {
    if (!it->string) FAIL("a header entry has no name");
    if (strcmp(it->string, "__metadata__") == 0) {
      if (meta) FAIL("two __metadata__ entries");
      if (!cJSON_IsObject(it)) FAIL("__metadata__ is not an object");
      size_t c = 0;
      for (cJSON *m = it->child; m; m = m->next) c++;
      meta = calloc(2 * c + 1, sizeof *meta);
      if (!meta) FAIL("out of memory");
      for (cJSON *m = it->child; m; m = m->next) {
        if (!cJSON_IsString(m)) FAIL("__metadata__ value of \"%s\" is not a string", m->string);
        meta[2 * nm] = strdup(m->string);
        meta[2 * nm + 1] = strdup(m->valuestring);
        nm++;
        if (!meta[2 * nm - 2] || !meta[2 * nm - 1]) FAIL("out of memory");
      }
      continue;
    }
    nyto_st_entry *e = &es[ne];
    if (!cJSON_IsObject(it)) FAIL("tensor \"%s\": not an object", it->string);
    e->name = strdup(it->string);
    if (!e->name) FAIL("out of memory");
    ne++;
    cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt)) FAIL("tensor \"%s\": no dtype", it->string);
    e->dtype = -1;
    for (int k = 0; k < 4; k++)
      if (strcmp(dt->valuestring, st_dtypes[k]) == 0) e->dtype = k;
    if (e->dtype < 0) FAIL("tensor \"%s\": unknown dtype %.32s", it->string, dt->valuestring);
    if (!cJSON_IsArray(sh)) FAIL("tensor \"%s\": no shape", it->string);
    int nd = cJSON_GetArraySize(sh);
    if (nd > NYTO_ST_MAXDIM) FAIL("tensor \"%s\": %d dimensions, more than %d", it->string, nd, NYTO_ST_MAXDIM);
    e->ndim = nd;
    uint64_t numel = 1;
    int overflow = 0;
    int d = 0;
    for (cJSON *s = sh->child; s; s = s->next, d++) {
      if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9007199254740992.0 ||
          s->valuedouble != (double)(int64_t)s->valuedouble)
        FAIL("tensor \"%s\": shape entry %d is not a non-negative integer", it->string, d + 1);
      uint64_t v = (uint64_t)s->valuedouble;
      e->sizes[d] = (int64_t)v;
      if (v != 0 && numel > UINT64_MAX / v) overflow = 1;
      else numel *= v;
    }
    for (int k = 0; k < nd; k++)
      if (e->sizes[k] == 0) overflow = 0, numel = 0;
    if (overflow || numel > (UINT64_MAX / 8)) FAIL("tensor \"%s\": the shape's product overflows", it->string);
    uint64_t nbytes = numel * (uint64_t)st_elsize[e->dtype];
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) FAIL("tensor \"%s\": no data_offsets pair", it->string);
    cJSON *b = off->child, *en = b->next;
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 || en->valuedouble < 0 ||
        b->valuedouble > 1.8e19 || en->valuedouble > 1.8e19 ||
        b->valuedouble != (double)(uint64_t)b->valuedouble || en->valuedouble != (double)(uint64_t)en->valuedouble)
      FAIL("tensor \"%s\": data_offsets are not non-negative integers", it->string);
    uint64_t ob = (uint64_t)b->valuedouble, oe = (uint64_t)en->valuedouble;
    if (oe < ob) FAIL("tensor \"%s\": data_offsets end before they begin", it->string);
    if (oe > data_len) FAIL("tensor \"%s\": data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                            it->string, (unsigned long long)ob, (unsigned long long)oe, (unsigned long long)data_len);
    if (oe - ob != nbytes)
      FAIL("tensor \"%s\": data_offsets hold %llu bytes, its shape and dtype need %llu", it->string,
           (unsigned long long)(oe - ob), (unsigned long long)nbytes);
    e->begin = 8 + hlen + ob;
    e->end = 8 + hlen + oe;
  }
  if (ne > 1) {
    sorted = malloc(ne * sizeof *sorted);
    if (!sorted) FAIL("out of memory");
    memcpy(sorted, es, ne * sizeof *sorted);
    qsort(sorted, ne, sizeof *sorted, cmp_begin);
    for (size_t k = 1; k < ne; k++)
      if (sorted[k].begin < sorted[k - 1].end)
        FAIL("tensors \"%s\" and \"%s\": data_offsets overlap", sorted[k - 1].name, sorted[k].name);
    free(sorted);
    sorted = NULL;
  }
  cJSON_Delete(root);
  *entries = es;
  *n = ne;
  *metadata = meta;
  *nmeta = nm;
  return 0;
fail:
  free(sorted);
  cJSON_Delete(root);
  nyto_st_free(es, ne, meta, nm);
  return -1;
}

unsigned char *nyto_st_header(const char *const *names, const int *dtypes, const int *ndims,
                              const int64_t *const *sizes, const uint64_t *bytes, size_t n,
                              const char *const *metadata, size_t nmeta, size_t *len, char *err, size_t errlen) {
  cJSON *root = cJSON_CreateObject();
  char *text = NULL;
  unsigned char *out = NULL;
  if (!root) FAIL("out of memory");
  if (nmeta > 0) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    if (!m) FAIL("out of memory");
    for (size_t k = 0; k < nmeta; k++)
      if (!cJSON_AddStringToObject(m, metadata[2 * k], metadata[2 * k + 1])) FAIL("out of memory");
  }
  uint64_t at = 0;
  for (size_t k = 0; k < n; k++) {
    cJSON *e = cJSON_AddObjectToObject(root, names[k]);
    if (!e || !cJSON_AddStringToObject(e, "dtype", st_dtypes[dtypes[k]])) FAIL("out of memory");
    cJSON *sh = cJSON_AddArrayToObject(e, "shape");
    if (!sh) FAIL("out of memory");
    for (int d = 0; d < ndims[k]; d++) {
      cJSON *v = cJSON_CreateNumber((double)sizes[k][d]);
      if (!v || !cJSON_AddItemToArray(sh, v)) FAIL("out of memory");
    }
    cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON *b = cJSON_CreateNumber((double)at), *en = cJSON_CreateNumber((double)(at + bytes[k]));
    if (!off || !b || !en || !cJSON_AddItemToArray(off, b) || !cJSON_AddItemToArray(off, en)) FAIL("out of memory");
    at += bytes[k];
  }
  text = cJSON_PrintUnformatted(root);
  if (!text) FAIL("out of memory");
  size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
  out = malloc(8 + padded);
  if (!out) FAIL("out of memory");
  for (int k = 0; k < 8; k++) out[k] = (unsigned char)(((uint64_t)padded >> (8 * k)) & 0xff);
  memcpy(out + 8, text, tl);
  memset(out + 8 + tl, ' ', padded - tl);
  *len = 8 + padded;
  free(text);
  cJSON_Delete(root);
  return out;
fail:
  free(text);
  cJSON_Delete(root);
  return NULL;
}
