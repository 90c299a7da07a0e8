/* nyto_pickle.h -- reading PyTorch's torch.save files without running them
 * (C11, no Lua, no libtorch): the zip directory (src/core/pickle.c) and a
 * small pickle machine for the accepted subset.  Only tensors
 * (torch._utils._rebuild_tensor_v2 over storages, _rebuild_parameter),
 * dicts (collections.OrderedDict included), lists, tuples, numbers,
 * strings, bytes, booleans and None are built; any other global, and the
 * opcodes that make objects (INST, OBJ, NEWOBJ, NEWOBJ_EX, BUILD but on an
 * OrderedDict, PERSID, EXT*), is refused where it is read: nothing in the
 * file ever runs.  Memory is bounded by the size of the input. */
#ifndef NYTO_PICKLE_H
#define NYTO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

/* ---- the zip directory (stored records only, zip64 understood) ---- */
typedef struct nyto_zip_entry {
  const char *name; /* into the buffer, not NUL-terminated */
  size_t nlen;
  uint64_t off, size; /* the record's bytes: buf[off, off + size) */
  uint32_t crc;
} nyto_zip_entry;

/* Parse the central directory of a zip held in buf.  Every record must be
 * stored (no compression, no encryption) and lie inside buf.  *entries is
 * malloc'd, sorted by name (the caller frees it).  0, or -1 with err. */
int nyto_zip_parse(const unsigned char *buf, size_t len, nyto_zip_entry **entries, size_t *n, char *err,
                   size_t errlen);
/* The entry named name (binary search), or NULL. */
const nyto_zip_entry *nyto_zip_find(const nyto_zip_entry *entries, size_t n, const char *name, size_t nlen);

/* ---- the values ---- */
enum {
  NYTO_PK_NONE, NYTO_PK_BOOL, NYTO_PK_INT, NYTO_PK_FLOAT, NYTO_PK_STR, NYTO_PK_BYTES,
  NYTO_PK_LIST, NYTO_PK_TUPLE, NYTO_PK_DICT, NYTO_PK_TENSOR,
  NYTO_PK_GLOBAL, NYTO_PK_STORAGE /* only while the machine runs: never in a result */
};
/* tensor dtypes: as nt.h's NT_FLOAT32, NT_FLOAT64, NT_INT64, NT_BOOL */
enum { NYTO_PK_F32, NYTO_PK_F64, NYTO_PK_I64, NYTO_PK_B8 };
#define NYTO_PK_MAXDIM 16
#define NYTO_PK_MAXDEPTH 200

typedef struct nyto_pk_node {
  int kind;
  int sub;          /* GLOBAL: which one; STORAGE: dtype; DICT: 1 when an OrderedDict */
  int64_t i;        /* BOOL, INT; TENSOR: index in tensors; STORAGE: index in storages */
  double f;         /* FLOAT */
  const char *s;    /* STR, BYTES: into the pickle, not NUL-terminated */
  size_t slen;
  uint32_t *items;  /* LIST, TUPLE: n nodes; DICT: n/2 pairs as n nodes (key, value, ...) */
  uint32_t n, cap;
} nyto_pk_node;

typedef struct nyto_pk_storage {
  int dtype;
  uint64_t numel;
  const unsigned char *data; /* numel * element size bytes, into the file */
  const char *key;           /* the record's key ("0", "1", ...), into the pickle */
  size_t keylen;
  uint32_t crc;              /* with crc_pending: the CRC-32 data must have (NYTO_PT_DEFERCRC) */
  int crc_pending;
} nyto_pk_storage;

typedef struct nyto_pk_tensor {
  uint32_t storage; /* index in storages */
  int ndim;
  int requires_grad;
  int64_t offset;   /* elements; offset + the strided extent lies inside the storage */
  int64_t sizes[NYTO_PK_MAXDIM], strides[NYTO_PK_MAXDIM];
} nyto_pk_tensor;

typedef struct nyto_pickle {
  nyto_pk_node *nodes;
  size_t nnodes, capnodes;
  nyto_pk_storage *storages;
  size_t nstorages, capstorages;
  nyto_pk_tensor *tensors;
  size_t ntensors, captensors;
  uint32_t root;
} nyto_pickle;

/* Where a storage's bytes are: the record for key (keylen bytes) in *data,
 * *len.  0; 1 when there is none; 2 when it is damaged (its CRC-32); 3 when
 * found but its CRC-32 (*crc) is left to whoever reads the bytes. */
typedef int (*nyto_pk_record_fn)(void *ctx, const char *key, size_t keylen, const unsigned char **data,
                                 size_t *len, uint32_t *crc);

/* Run the pickle pk[0, len) into out (zeroed first), storages resolved by
 * record(ctx, ...).  0, or -1 with err (out is freed). */
int nyto_pickle_run(const unsigned char *pk, size_t len, nyto_pk_record_fn record, void *ctx, nyto_pickle *out,
                    char *err, size_t errlen);
void nyto_pickle_free(nyto_pickle *p);

/* A whole torch.save file (a zip: <archive>/data.pkl, <archive>/data/<key>,
 * <archive>/byteorder): the directory, the CRC-32 of every record read
 * (unless NYTO_PT_NOCRC: the fuzzer's), then the pickle.  The nodes'
 * strings and the storages' data point into buf. */
#define NYTO_PT_NOCRC 1
/* the storages' CRC-32s are not checked here but left in crc/crc_pending,
 * for a reader that checks them as it copies (one pass over the bytes) */
#define NYTO_PT_DEFERCRC 2
int nyto_pt_parse(const unsigned char *buf, size_t len, int flags, nyto_pickle *out, char *err, size_t errlen);

/* ---- writing torch.save files (what torch.load and nyto_pt_parse read) ----
 * A pickle (protocol 2, or 3 when a string is not UTF-8 text: BINBYTES) is
 * built in memory; tensors are borrowed (their data is written from where
 * it is, once, when the file is written).  Calls after an allocation
 * failure do nothing; nyto_pkw_write reports it. */
typedef struct nyto_pkw_tensor {
  const void *data;
  uint64_t nbytes;
} nyto_pkw_tensor;

typedef struct nyto_pkw {
  unsigned char *buf;
  size_t len, cap;
  int oom;
  int binary; /* a BINBYTES was written: protocol 3 */
  nyto_pkw_tensor *tensors;
  size_t ntensors, captensors;
} nyto_pkw;

void nyto_pkw_init(nyto_pkw *w);
void nyto_pkw_free(nyto_pkw *w);
void nyto_pkw_none(nyto_pkw *w);
void nyto_pkw_bool(nyto_pkw *w, int b);
void nyto_pkw_int(nyto_pkw *w, int64_t v);
void nyto_pkw_float(nyto_pkw *w, double v);
/* a str when s is UTF-8 text, else bytes */
void nyto_pkw_string(nyto_pkw *w, const char *s, size_t len);
/* a list: begin, the items, end; a dict: begin, key, value, ..., end */
void nyto_pkw_list_begin(nyto_pkw *w);
void nyto_pkw_list_end(nyto_pkw *w);
void nyto_pkw_dict_begin(nyto_pkw *w);
void nyto_pkw_dict_end(nyto_pkw *w);
/* a contiguous tensor of dtype NYTO_PK_*: its own storage record */
void nyto_pkw_tensor_(nyto_pkw *w, int dtype, int ndim, const int64_t *sizes, const void *data);
/* the zip (archive/data.pkl, archive/data/<k>, archive/byteorder,
 * archive/version; records 64-byte aligned, CRC-32s) written atomically
 * with nyto_write_atomic.  0; -1 with err. */
int nyto_pkw_write(nyto_pkw *w, const char *path, char *err, size_t errlen);

#endif
