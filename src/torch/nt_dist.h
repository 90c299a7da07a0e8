/* nt_dist.h -- the C ABI of nyto.distributed (src/torch/dist.cpp, over c10d's
 * TCPStore and Gloo).  Every function returns 0 on success and -1 on failure
 * with the reason in nt_error(); nothing throws across this boundary.
 * `check`: first exchange a small shape/dtype header, so that mismatched
 * tensors across ranks raise instead of corrupting. */
#ifndef NYTO_NT_DIST_H
#define NYTO_NT_DIST_H

#include "nt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum nt_dist_op { NT_DIST_SUM, NT_DIST_AVG, NT_DIST_MIN, NT_DIST_MAX, NT_DIST_PRODUCT };

int nt_dist_init(int rank, int world, const char *addr, int port, double timeout_s);
int nt_dist_destroy(void);
int nt_dist_initialized(void);
int nt_dist_rank(void);       /* -1 before init */
int nt_dist_world_size(void); /* 0 before init */
int nt_dist_barrier(void);
int nt_dist_all_reduce(nt_tensor *x, int op, int check);
int nt_dist_broadcast(nt_tensor *x, int src, int check);
int nt_dist_all_gather(nt_tensor *x, nt_tensor **out, int check); /* out: world_size handles */
int nt_dist_send(nt_tensor *x, int dst, int check);
int nt_dist_recv(nt_tensor *x, int src, int check);

#ifdef __cplusplus
}
#endif
#endif
