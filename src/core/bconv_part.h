/* bconv_part.h -- the direct Conv2d + ReLU + MaxPool2d(2) kernel of
 * bconv.c, included once per instruction set with CV_NAME (the function),
 * CV_T / CV_IT (float / int vector types of CV_L lanes: the output channels
 * of a block) and CV_NQ (pooled columns per register block: 2 x 2 CV_NQ
 * accumulators). */
/* NQ pooled columns from px of pooled row py, for the output block whose
 * transposed weights start at w0: 2 x 2NQ accumulators */
#define CV_BLOCK(NQ)                                                                    \
  do {                                                                                  \
    CV_T acc0[2 * (NQ)], acc1[2 * (NQ)];                                                \
    for (int j_ = 0; j_ < 2 * (NQ); j_++) acc0[j_] = acc1[j_] = bias;                   \
    const float *wk = w0;                                                               \
    for (int64_t c = 0; c < C; c++)                                                     \
      for (int64_t ky = 0; ky < KH; ky++) {                                             \
        const float *r0 = xp + (c * HP + 2 * py * SH + ky) * WP + 2 * px * SW;          \
        const float *r1 = r0 + SH * WP;                                                 \
        for (int64_t kx = 0; kx < KW; kx++) {                                           \
          CV_T wv = *(const CV_T *)wk;                                                  \
          wk += CV_L;                                                                   \
          for (int j_ = 0; j_ < 2 * (NQ); j_++) {                                       \
            acc0[j_] += r0[j_ * SW + kx] * wv;                                          \
            acc1[j_] += r1[j_ * SW + kx] * wv;                                          \
          }                                                                             \
        }                                                                               \
      }                                                                                 \
    for (int q_ = 0; q_ < (NQ); q_++) {                                                 \
      CV_T a_ = CV_MAX(acc0[2 * q_], acc0[2 * q_ + 1]);                                 \
      CV_T b_ = CV_MAX(acc1[2 * q_], acc1[2 * q_ + 1]);                                 \
      CV_T m_ = CV_MAX(a_, b_);                                                         \
      *(CV_T *)(tile + (px + q_) * CV_L) = CV_RELU(m_);                                 \
    }                                                                                   \
  } while (0)

/* units u = member * batch + image */
static void CV_NAME(void *ctx, int64_t u0, int64_t u1) {
  cv_job *j = ctx;
  const nt_bconv *p = j->p;
  const int64_t B = p->batch, C = p->cin, KH = p->kh, KW = p->kw, SH = p->sh, SW = p->sw;
  const int64_t IH = p->ih, IW = p->iw, HP = IH + 2 * p->ph, WP = IW + 2 * p->pw;
  const int64_t T = C * KH * KW, O = p->cout, NOB = (O + CV_L - 1) / CV_L, OH = p->oh, OW = p->ow;
  float *wt = aligned_alloc(64, cv_round64((size_t)(NOB * T * CV_L) * sizeof(float)));
  float *bv = aligned_alloc(64, cv_round64((size_t)(NOB * CV_L) * sizeof(float)));
  float *tile = aligned_alloc(64, cv_round64((size_t)(OW * CV_L) * sizeof(float)));
  float *xp = calloc((size_t)(C * HP * WP), sizeof(float)); /* the border stays 0 */
  if (!wt || !bv || !tile || !xp) {
    j->failed = 1;
    goto done;
  }
  int64_t cur_m = -1;
  const float *cur_x = NULL;
  for (int64_t u = u0; u < u1; u++) {
    const int64_t m = u / B, b = u % B;
    if (m != cur_m) { /* member m's weights as [block][tap][lane], zero-padded lanes */
      const float *w = p->w + m * p->w_stride;
      for (int64_t ob = 0; ob < NOB; ob++)
        for (int64_t t = 0; t < T; t++)
          for (int64_t l = 0; l < CV_L; l++) {
            int64_t o = ob * CV_L + l;
            wt[(ob * T + t) * CV_L + l] = o < O ? w[o * T + t] : 0.0f;
          }
      for (int64_t o = 0; o < NOB * CV_L; o++) bv[o] = p->b && o < O ? p->b[m * p->b_stride + o] : 0.0f;
      cur_m = m;
    }
    const float *src = p->x + m * p->x_stride + b * C * IH * IW;
    if (src != cur_x) { /* the image, zero-padded */
      for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < IH; i++)
          memcpy(xp + (c * HP + i + p->ph) * WP + p->pw, src + (c * IH + i) * IW, (size_t)IW * sizeof(float));
      cur_x = src;
    }
    float *y = p->y + m * p->y_stride + b * O * OH * OW;
    for (int64_t ob = 0; ob < NOB; ob++) {
      const float *w0 = wt + ob * T * CV_L;
      const CV_T bias = *(const CV_T *)(bv + ob * CV_L);
      const int64_t no = O - ob * CV_L < CV_L ? O - ob * CV_L : CV_L;
      for (int64_t py = 0; py < OH; py++) {
        int64_t px = 0;
        for (; px + CV_NQ <= OW; px += CV_NQ) CV_BLOCK(CV_NQ);
        for (; px < OW; px++) CV_BLOCK(1);
        for (int64_t l = 0; l < no; l++) { /* lanes -> NCHW rows */
          float *yo = y + ((ob * CV_L + l) * OH + py) * OW;
          for (int64_t q = 0; q < OW; q++) yo[q] = tile[q * CV_L + l];
        }
      }
    }
  }
done:
  free(wt);
  free(bv);
  free(tile);
  free(xp);
}


#undef CV_BLOCK
#undef CV_NAME
#undef CV_T
#undef CV_IT
#undef CV_L
#undef CV_NQ
