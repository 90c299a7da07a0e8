-- nyto.strategy.es_util: numerics shared by the distribution-based strategies
-- (OpenES, SNES, PGPE, CMA-ES; issue 17).  An internal module: require it.
--
-- Noise layout (what a seeds-only distributed run needs, Salimans et al. 2017
-- section 2.1): every strategy here draws the standard normals of one
-- generation in ONE call `nyto.randn(rows, D, {generator = g})` at ask().
-- Element j of a draw is a pure function of (seed, stream, offset + j)
-- (src/core/philox.c), and a draw of n elements advances the offset by n
-- rounded up to a multiple of 4.  So with o0 the generator's offset when the
-- strategy was made, R = rows * D and R4 = R rounded up to a multiple of 4,
-- the noise of generation t (0-based) is the elements [o0 + t*R4, o0 + (t+1)*R4)
-- of (seed, stream), and row k (1-based; for OpenES and PGPE the pair k, the
-- members 2k-1 and 2k) starts at o0 + t*R4 + (k-1)*D.  A worker regenerates
-- row k of generation t from (seed, stream, o0, t, k) alone:
--   g:set_state{generator = "philox4x32-10", seed = seed, stream = stream,
--               offset = o0 + t*R4 + (k-1)*D};  eps_k = nyto.randn(D, {generator = g})
-- (noise_offset below computes that offset).  The noise is drawn over the flat
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

-- the standard normals of one generation: an [rows, D] tensor of dtype dt from es.g
function U.noise(es, rows, dt)
  return nyto.randn({rows, es.D}, {generator = es.g, dtype = dt or es.dtype})
end

-- an [n, D] tensor of samples as the population handed to the user (a Swarm
-- of the center's species, or the tensor itself in the center's dtype).  A
-- particle center's non-operational parameters keep the center's values in
-- every member (as Swarm arithmetic keeps them; base's best() and center() do
-- too): the search distribution still spans them, but no member, best or
-- center shows it, and no fitness depends on it.
function U.pop(es, X)
  X = U.cast(X, es.dtype)
  if es.opmask then X = nyto.where(es.opmask:view {1, es.D}, X, es.center_flat:view {1, es.D}) end
  return B.from_flat(es, X)
end

-- antithetic rows: [k, D] tensors a and b -> [2k, D] with rows 2i-1 = a_i, 2i = b_i
function U.interleave(a, b)
  return nyto.stack({a, b}, 2):view {a:size(1) * 2, a:size(2)}
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

-- NES utilities (Wierstra et al. 2014, section 3.1, eq. in "fitness shaping"):
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

-- sum_i w[i] * rows[i] for an [n, D] tensor and n weights: a [D] tensor.  Not
-- nyto.mv: OpenBLAS's gemv gives other bits on 1 and 2 threads for some sizes
-- (D = 20100 here); a product then a sum over dim 1 is one elementwise pass and
-- a reduction that libtorch splits over the D outputs only, in the same order on
-- any thread count (spec/strategy_dist_spec.lua checks 1 vs 2 threads).
function U.weighted_sum(rows, w)
  local n = rows:size(1)
  return (rows * nyto.tensor(w, {dtype = rows:dtype()}):view {n, 1}):sum(1)
end

-- A x for a square [D, D] A and a [D] x, in the same order on any thread count
function U.matvec(A, x)
  return (A * x:view {1, -1}):sum(2)
end

return U
