/* nyto_save.h -- files for nyto.save/nyto.load (C11, no Lua): atomic writes,
 * read-only maps, and the safetensors header (parsed with libcjson). */
#ifndef NYTO_SAVE_H
#define NYTO_SAVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct nyto_chunk {
  const void *data;
  size_t len;
} nyto_chunk;

/* Write the chunks to path atomically: a temporary file in path's folder,
 * written, flushed, fsynced, renamed over path, then the folder fsynced.
 * Temporaries left by killed writers of the same path are removed first.
 * 0, or -1 with a message in err (the old file is untouched). */
int nyto_write_atomic(const char *path, const nyto_chunk *chunks, int n, char *err, size_t errlen);
/* Turn the fsyncs of nyto_write_atomic off (0) or on; returns the previous
 * setting.  For benchmarks only: without them a crash may lose the file. */
int nyto_save_set_sync(int on);

/* Map a whole file read-only.  0; 1 when it does not exist; -1 otherwise
 * (err says why: a directory, unreadable, ...).  An empty file maps to
 * (NULL, 0). */
int nyto_map_file(const char *path, const unsigned char **data, size_t *len, char *err, size_t errlen);
void nyto_unmap_file(const unsigned char *data, size_t len);

enum { NYTO_ST_F32, NYTO_ST_F64, NYTO_ST_I64, NYTO_ST_BOOL };
#define NYTO_ST_MAXDIM 16
typedef struct nyto_st_entry {
  char *name;
  int dtype; /* NYTO_ST_* */
  int ndim;
  int64_t sizes[NYTO_ST_MAXDIM];
  uint64_t begin, end; /* byte offsets into the file (data start added) */
} nyto_st_entry;

/* Parse and check a safetensors file held in buf: the header length, the
 * JSON header, every entry's dtype, shape and offsets (in range, exactly the
 * entry's bytes, not overlapping).  On success *entries (n of them, in file
 * order) and *metadata (a malloc'd array of 2*nmeta strings, key, value) are
 * the caller's to free with nyto_st_free.  -1 with a message in err. */
int nyto_st_parse(const unsigned char *buf, size_t len, nyto_st_entry **entries, size_t *n, char ***metadata,
                  size_t *nmeta, char *err, size_t errlen);
void nyto_st_free(nyto_st_entry *entries, size_t n, char **metadata, size_t nmeta);

/* The safetensors header for n tensors (names, dtypes NYTO_ST_*, shapes,
 * byte sizes) and metadata pairs: a malloc'd buffer of 8 + header bytes
 * (length prefix included, padded with spaces to a multiple of 8). */
unsigned char *nyto_st_header(const char *const *names, const int *dtypes, const int *ndims,
                              const int64_t *const *sizes, const uint64_t *bytes, size_t n,
                              const char *const *metadata, size_t nmeta, size_t *len, char *err, size_t errlen);

#endif
