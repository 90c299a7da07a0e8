-- nyto.strategy.es_util: numerics shared by the distribution-based strategies
-- (OpenES, SNES, PGPE, CMA-ES; issue 17).  An internal module: require it.
--
-- Noise layout (what a seeds-only distributed run needs, Salimans et al. 2017
-- Algorithm 2): every strategy here draws the standard normals of one
-- generation in ONE call `nyto.randn(rows, D, {generator = g})` at ask().
-- Element j of a draw is a pure function of (seed, stream, offset + j)
-- (src/core/philox.c), and a draw of n elements advances the offset by n
-- rounded up to a multiple of 4.  So with o0 the generator's offset when the
-- strategy was made, R = rows * D and R4 = R rounded up to a multiple of 4,
-- the noise of generation t (0-based) is the elements [o0 + t*R4, o0 + (t+1)*R4)
-- of (seed, stream), and row k (1-based; for OpenES and PGPE the pair k, the
-- members 2k-1 and 2k) starts at o0 + t*R4 + (k-1)*D.  A worker regenerates
-- row k of generation t from (seed, stream, o0, t, k) alone:
--   g:set_state{generator = "xoshiro128++/philox4x32-10", seed = seed, stream = stream,
--               offset = o0 + t*R4 + (k-1)*D};  eps_k = nyto.randn(D, {generator = g})
-- (noise_offset below computes that offset).  This holds while the strategy is
-- the only user of g and every ask is told (an ask replaced by another ask
-- takes a generation's counters too); t is then es.generation at the ask.  The noise is drawn over the flat
-- vector for both kinds of center, so a particle center runs the course of its
-- flat vector bit for bit, and the layout does not depend on the species.
local nyto = require "nyto"
local B = require "nyto.strategy.base"

local U = {}

-- t as dtype dt (a no-op when it already is)
function U.cast(t, dt)
  if t:dtype() == dt then return t end
  return dt == "float64" and t:double() or t:float()
end

-- the standard normals of one generation: an [rows, D] tensor of dtype dt from
-- es.g, the draws of nyto.randn({rows, D}, {generator = es.g, dtype = dt}) (the
-- same counters), written into one buffer the strategy keeps: a fresh tensor of
-- that size costs its page faults every generation (a [32, 1.86M] randn: 129 ms
-- fresh, 44 ms in place).  The tensor is overwritten by the next ask.
local core = nyto.core
local function noise_buffer(es, rows, dt)
  local nb = es._noise
  if not nb or nb.rows ~= rows or nb.dt ~= dt then
    local buf = core.buffer(dt, rows * es.D)
    nb = {rows = rows, dt = dt, buf = buf, segs = core.segments {0, rows * es.D}, t = buf:tensor():view {rows, es.D}}
    es._noise = nb
  end
  return nb
end
function U.noise(es, rows, dt)
  local nb = noise_buffer(es, rows, dt or es.dtype)
  core.prandom_(nb.buf, 0, nb.segs, es.g)
  return nb.t
end

-- a scratch [rows, D] tensor of dtype dt kept by the strategy under key (no page
-- faults per generation); its values are whatever was written last
function U.scratch(es, key, rows, dt)
  local sc = es._scratch
  if not sc then sc = {}; es._scratch = sc end
  local t = sc[key]
  if not t or t:size(1) ~= rows or t:dtype() ~= dt then
    t = nyto.empty({rows, es.D}, {dtype = dt})
    sc[key] = t
  end
  return t
end

-- a .* a for an [rows, D] tensor a, into a scratch tensor
function U.square(es, a)
  return U.scratch(es, "square", a:size(1), a:dtype()):copy_(a):mul_(a)
end

-- the offset of row k (1-based) of generation t (0-based): see the layout above
function U.noise_offset(o0, t, rows, D, k)
  local R4 = (rows * D + 3) // 4 * 4
  return o0 + t * R4 + (k - 1) * D
end

-- 0-based ranks of the minimisation fitness f (a table of n numbers): rank 0
-- the smallest; ties broken by index, so the ranking is deterministic; -inf
-- first, +inf last.  Returns ranks[i] and order (order[r+1] = the member of rank r).
function U.ranks(f)
  local n = #f
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b)
    if f[a] ~= f[b] then return f[a] < f[b] end
    return a < b
  end)
  local ranks = {}
  for r, i in ipairs(order) do ranks[i] = r - 1 end
  return ranks, order
end

-- centred ranks (Salimans et al. 2017, "fitness shaping", the authors'
-- compute_centered_ranks): rank r in [0, n-1] -> r/(n-1) - 0.5, so the best
-- (smallest f) member gets -0.5 and the worst +0.5 (a loss-sign utility)
function U.centered_ranks(f)
  local n = #f
  local ranks = U.ranks(f)
  local out = {}
  for i = 1, n do out[i] = ranks[i] / (n - 1) - 0.5 end
  return out
end

-- NES utilities (Wierstra et al. 2014, fitness shaping):
-- u_k = max(0, ln(lambda/2 + 1) - ln k) / sum_j max(0, ln(lambda/2 + 1) - ln j) - 1/lambda,
-- k = 1 the best.  Returns u indexed by member.
function U.nes_utilities(f)
  local n = #f
  local _, order = U.ranks(f)
  local raw, sum = {}, 0
  for k = 1, n do
    raw[k] = math.max(0, math.log(n / 2 + 1) - math.log(k))
    sum = sum + raw[k]
  end
  local u = {}
  for k = 1, n do u[order[k]] = raw[k] / sum - 1 / n end
  return u
end

-- f(...) with OpenBLAS's pool at one thread, restored after (also when f
-- raises).  The bits of OpenBLAS's gemv and gemm depend on the pool's size
-- (nyto.mv of a [20100, 8] by [8] differed on 1 and 2 threads): every BLAS call
-- of these strategies goes through here, so a seeded run is the same on any
-- thread count.  On one thread a gemv is still one pass over its matrix.
local blas_threads = nyto.core.blas_threads
function U.serial(f, ...)
  local old = blas_threads()
  if old == nil or old <= 1 then return f(...) end
  blas_threads(1)
  local ok, a, b = pcall(f, ...)
  blas_threads(old)
  if not ok then error(a, 0) end
  return a, b
end

-- sum_i w[i] * rows[i] for an [n, D] tensor and n weights (a table): a [D] tensor
function U.weighted_sum(rows, w)
  return U.serial(nyto.mv, rows:t(), nyto.tensor(w, {dtype = rows:dtype()}))
end
function U.mm(a, b) return U.serial(nyto.mm, a, b) end
function U.mv(a, x) return U.serial(nyto.mv, a, x) end

-- The population buffer of a strategy: one [n, D] arena reused by every ask
-- (a Swarm's on a particle center, a tensor on a vector center): the samples
-- are written into it in place, so an ask allocates no population.  The
-- population an ask returned is overwritten by the next ask (clone it to keep
-- it), as PSO's positions are.  Returns {pop =, X = the [n, D] tensor to write}.
function U.buffer(es)
  local b = es._buf
  -- a Swarm the user freed (`local pop <close> = es:ask()`) is not written again: a new one
  if b and (es.kind ~= "particle" or pcall(function() return #b.pop end)) then return b end
  if es.kind == "particle" then
    local s = nyto.Swarm(es.template, es.n)
    b = {pop = s, X = s:flat(es.dtype)}
  else
    local X = nyto.zeros({es.n, es.D}, {dtype = es.dtype})
    b = {pop = X, X = X}
  end
  es._buf = b
  return b
end

-- the population of a filled buffer.  A particle center's non-operational
-- parameters keep the center's values in every member (as Swarm arithmetic
-- keeps them; base's best() and center() do too): the search distribution
-- still spans them, but no member, best or center shows it, and no fitness
-- depends on it.
function U.finish(es, b)
  if es.opmask then
    b.X:copy_(nyto.where(es.opmask:view {1, es.D}, b.X, es.center_flat:view {1, es.D}))
  end
  return b.pop
end

-- The population in one pass (core.es_sample, src/core/es.c): the buffer's rows
-- become c + s .* z_k, or with pairs rows 2k-1, 2k become c + s .* z_k and
-- c - s .* z_k, with z_k the standard normals U.noise draws (the same counters
-- and values), made inside the pass; in float32 when es.dtype and c, s are
-- float32, else in float64 rounded once to es.dtype.  c and s are [D] tensors of
-- one float dtype (float64 for CMA-ES's state).  With keep, z_k are written into
-- the noise buffer (the tell reads them back: one read of z costs less than
-- drawing it again, 0.8 ns per normal on one thread).  With norms (float64
-- [rows]), norms[k] = sum_j r_j z_kj^2 (r a float64 [D], or nil: ones), made in
-- the same pass.
-- Returns the population and z ([rows, D], or nil without keep).
function U.sample(es, c, s, pairs, keep, r, norms)
  local rows = pairs and es.n // 2 or es.n
  local z = keep and noise_buffer(es, rows, es.dtype).t or nil
  local b = U.buffer(es)
  core.es_sample(b.X, c:contiguous(), s:contiguous(), pairs, z, es.g, r, norms)
  return U.finish(es, b), z
end

-- A scratch [D] tensor of dtype dt kept by the strategy under key: the D-vector
-- arithmetic of the updates runs in place on these and on the state's own
-- tensors, since a fresh [D] tensor costs its page faults (v * 0.5 on 1.86M
-- float32: 4.9 ms; v:mul_(0.5): 0.35 ms).  Its values are whatever was written last.
function U.vec(es, key, dt)
  local sc = es._vecs
  if not sc then sc = {}; es._vecs = sc end
  dt = dt or es.dtype
  local k = key .. dt
  local t = sc[k]
  if not t then t = nyto.empty({es.D}, {dtype = dt}); sc[k] = t end
  return t
end

-- sum_k w1[k] Z_k (and sum_k w2[k] Z_k^2 - sub2) over the rows of Z ([#w1, D]) in one
-- read of Z (core.es_moments: float64 sums, rounded once to dt, es.dtype by default):
-- two scratch [D] tensors (U.vec "m1", "m2"), overwritten by the next call.  Replaces
-- U.weighted_sum(Z, w1) and U.weighted_sum(Z * Z, w2) - sub2, which read Z twice and
-- write Z * Z.
function U.moments(es, Z, w1, w2, sub2, dt)
  local o1 = U.vec(es, "m1", dt)
  if w2 == nil then return (core.es_moments(Z, w1, o1)) end
  return core.es_moments(Z, w1, o1, w2, sub2 or 0, U.vec(es, "m2", dt))
end

return U
