/* cartpole.c -- neuroevolution in a host program (issue 17).  The host (this
 * C program) owns the simulation: the cart-pole of Barto, Sutton and Anderson
 * (1983), exactly as Gym's CartPole-v1 (classic_control/cartpole.py: euler
 * integration, tau 0.02, force 10, thresholds 12 degrees and 2.4, reward 1 per
 * step including the terminating one, episodes cut at 500 steps, initial
 * state U(-0.05, 0.05)^4), for every member of the population at once.  Lua
 * (examples/cartpole.lua) evolves a Swarm of small controller networks with a
 * nyto.strategy; the host calls it once per generation, and the script steps
 * the host's simulation through the `env` table below, scoring every member
 * with ONE batched forward per simulation step.
 *
 *   build/cartpole_example examples/cartpole.lua [--generations N] [--popsize N]
 *                          [--seed N] [--strategy NAME] [--plot FILE.png] [--quiet]
 *   build/cartpole_example --trace SEED ACTIONS     (the dynamics alone, for spec/cartpole_spec.lua)
 *
 * The observations are the host's own float array, wrapped once per reset as
 * a Tensor without a copy (nyto_push_tensor); the script's actions are read in
 * place (nyto_tensor_data); every call into Lua goes through nyto_pcall, so a
 * script error is a message with a traceback, never a crash.  Exit status: 0
 * solved (the best controller averages >= 475 over 100 fresh episodes,
 * CartPole-v1's threshold), 2 not solved within the generations, 1 an error. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nyto.h"

/* Gym CartPole-v1's constants */
#define GRAVITY 9.8
#define MASSCART 1.0
#define MASSPOLE 0.1
#define TOTAL_MASS (MASSPOLE + MASSCART)
#define LENGTH 0.5 /* half the pole's length */
#define POLEMASS_LENGTH (MASSPOLE * LENGTH)
#define FORCE_MAG 10.0
#define TAU 0.02
#define THETA_THRESHOLD (12 * 2 * M_PI / 360)
#define X_THRESHOLD 2.4
#define MAX_STEPS 500

typedef struct {
  int cap, n;       /* environments allocated, in use */
  double *state;    /* [cap][4]: x, x_dot, theta, theta_dot (float64, as Gym's numpy state) */
  float *obs;       /* [cap][4]: what the controllers see (Gym returns float32) */
  float *ret;       /* [cap]: the episode's return so far */
  unsigned char *done;
  int steps;        /* steps since reset */
  uint64_t rng;
} Env;

static Env env;

/* splitmix64: the host's own random numbers (initial states) */
static double uniform(uint64_t *s, double lo, double hi) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return lo + (hi - lo) * ((double)(z >> 11) * (1.0 / 9007199254740992.0));
}

static void reset_one(int i) {
  for (int k = 0; k < 4; k++) {
    env.state[4 * i + k] = uniform(&env.rng, -0.05, 0.05);
    env.obs[4 * i + k] = (float)env.state[4 * i + k];
  }
  env.ret[i] = 0;
  env.done[i] = 0;
}

/* Gym's CartPole-v1 step for environment i; returns 1 when it terminates */
static int step_one(int i, int action) {
  double *s = env.state + 4 * i;
  double x = s[0], x_dot = s[1], theta = s[2], theta_dot = s[3];
  double force = action == 1 ? FORCE_MAG : -FORCE_MAG;
  double costheta = cos(theta), sintheta = sin(theta);
  double temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sintheta) / TOTAL_MASS;
  double thetaacc = (GRAVITY * sintheta - costheta * temp) /
                    (LENGTH * (4.0 / 3.0 - MASSPOLE * costheta * costheta / TOTAL_MASS));
  double xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
  x = x + TAU * x_dot; /* euler */
  x_dot = x_dot + TAU * xacc;
  theta = theta + TAU * theta_dot;
  theta_dot = theta_dot + TAU * thetaacc;
  s[0] = x, s[1] = x_dot, s[2] = theta, s[3] = theta_dot;
  for (int k = 0; k < 4; k++) env.obs[4 * i + k] = (float)s[k];
  return x < -X_THRESHOLD || x > X_THRESHOLD || theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD;
}

/* env.reset(n) -> obs: n fresh episodes; obs is an [n, 4] float32 Tensor over
 * the host's array (no copy), which every env.step updates in place */
static int l_reset(lua_State *L) {
  if (!lua_isinteger(L, 1))
    return luaL_error(L, "nyto: bad argument #1 to 'reset' (an integer expected, got %s)", luaL_typename(L, 1));
  lua_Integer n = lua_tointeger(L, 1);
  if (n < 1 || n > env.cap)
    return luaL_error(L, "nyto: bad argument #1 to 'reset' (n must be in [1, %d], got %I)", env.cap, n);
  env.n = (int)n;
  env.steps = 0;
  for (int i = 0; i < env.n; i++) reset_one(i);
  int64_t sizes[2] = {n, 4};
  if (nyto_push_tensor(L, env.obs, NYTO_FLOAT32, 2, sizes, NULL, NULL) != LUA_OK) return lua_error(L);
  return 1;
}

/* env.step(actions) -> running: actions is an int64 Tensor of n actions, 1
 * (push left) or 2 (push right): nyto's 1-based argmax over two outputs.
 * Advances every running episode one step; returns how many still run. */
static int l_step(lua_State *L) {
  nyto_tensor_view a;
  if (nyto_tensor_data(L, 1, NYTO_INT64, &a) != LUA_OK) return lua_error(L);
  if (a.numel != env.n)
    return luaL_error(L, "nyto: bad argument #1 to 'step' (%d actions expected, got %I)", env.n, (lua_Integer)a.numel);
  const int64_t *act = a.data;
  for (int i = 0; i < env.n; i++)
    if (act[i] != 1 && act[i] != 2)
      return luaL_error(L, "nyto: bad argument #1 to 'step' (action %d must be 1 or 2, got %I)", i + 1, (lua_Integer)act[i]);
  int running = 0;
  env.steps++;
  for (int i = 0; i < env.n; i++) {
    if (env.done[i]) continue;
    int terminated = step_one(i, (int)act[i] - 1);
    env.ret[i] += 1; /* Gym: reward 1 on every step, the terminating one included */
    if (terminated || env.steps >= MAX_STEPS) env.done[i] = 1;
    else running++;
  }
  lua_pushinteger(L, running);
  return 1;
}

/* env.returns() -> an [n] float32 Tensor of the episodes' returns (no copy) */
static int l_returns(lua_State *L) {
  int64_t n = env.n;
  if (nyto_push_tensor(L, env.ret, NYTO_FLOAT32, 1, &n, NULL, NULL) != LUA_OK) return lua_error(L);
  return 1;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --trace SEED ACTIONS: one episode from the seeded initial state, the given
 * actions ("0110..."), printing the state after each step at full precision */
static int trace(uint64_t seed, const char *actions) {
  env.cap = 1;
  env.state = calloc(4, sizeof(double));
  env.obs = calloc(4, sizeof(float));
  env.ret = calloc(1, sizeof(float));
  env.done = calloc(1, 1);
  env.rng = seed;
  reset_one(0);
  printf("%.17g %.17g %.17g %.17g\n", env.state[0], env.state[1], env.state[2], env.state[3]);
  for (const char *c = actions; *c; c++) {
    int term = step_one(0, *c == '1');
    printf("%.17g %.17g %.17g %.17g %d\n", env.state[0], env.state[1], env.state[2], env.state[3], term);
  }
  return 0;
}

/* call M[name](args on the stack); returns the status, results or message on the stack */
static int call(lua_State *L, int M, const char *name, int nargs, int nresults) {
  lua_getfield(L, M, name);
  lua_insert(L, -nargs - 1);
  return nyto_pcall(L, nargs, nresults);
}

int main(int argc, char **argv) {
  const char *script = NULL, *strategy = "CEM", *plot = NULL;
  long generations = 100, popsize = 64;
  uint64_t seed = 1;
  int quiet = 0;
  if (argc == 4 && strcmp(argv[1], "--trace") == 0) return trace(strtoull(argv[2], NULL, 10), argv[3]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--generations") == 0 && i + 1 < argc) generations = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--popsize") == 0 && i + 1 < argc) popsize = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--strategy") == 0 && i + 1 < argc) strategy = argv[++i];
    else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc) plot = argv[++i];
    else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
    else if (!script && argv[i][0] != '-') script = argv[i];
    else {
      fprintf(stderr, "cartpole: unknown argument %s\n", argv[i]);
      return 1;
    }
  }
  if (!script || generations < 1 || popsize < 2 || popsize > 100000) {
    fprintf(stderr, "usage: cartpole_example SCRIPT.lua [--generations N>=1] [--popsize 2..100000] [--seed N]"
                    " [--strategy NAME] [--plot FILE.png] [--quiet]\n");
    return 1;
  }
  /* the host's memory: room for the population and for the 100 evaluation episodes */
  env.cap = popsize > 100 ? (int)popsize : 100;
  env.state = calloc((size_t)env.cap * 4, sizeof(double));
  env.obs = calloc((size_t)env.cap * 4, sizeof(float));
  env.ret = calloc((size_t)env.cap, sizeof(float));
  env.done = calloc((size_t)env.cap, 1);
  env.rng = seed * 0x2545f4914f6cdd1dULL + 1;
  if (!env.state || !env.obs || !env.ret || !env.done) return 1;

  lua_State *L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  if (nyto_open(L) != LUA_OK) {
    fprintf(stderr, "cartpole: %s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_setglobal(L, "nyto");
  int status = 1;
  double t0 = now();
  /* M = dofile(script) */
  if (luaL_loadfile(L, script) != LUA_OK || nyto_pcall(L, 0, 1) != LUA_OK) {
    fprintf(stderr, "cartpole: %s\n", lua_tostring(L, -1));
    goto out;
  }
  if (!lua_istable(L, -1)) {
    fprintf(stderr, "cartpole: %s must return a table of functions (setup, generation, evaluate)\n", script);
    goto out;
  }
  int M = lua_gettop(L);
  /* M.setup(env, {popsize =, seed =, strategy =}) */
  static const luaL_Reg env_funcs[] = {{"reset", l_reset}, {"step", l_step}, {"returns", l_returns}, {NULL, NULL}};
  luaL_newlib(L, env_funcs);
  lua_pushinteger(L, MAX_STEPS);
  lua_setfield(L, -2, "max_steps");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, popsize);
  lua_setfield(L, -2, "popsize");
  lua_pushinteger(L, (lua_Integer)(seed & 0x7fffffffffffffffULL));
  lua_setfield(L, -2, "seed");
  lua_pushstring(L, strategy);
  lua_setfield(L, -2, "strategy");
  if (plot) {
    lua_pushstring(L, plot);
    lua_setfield(L, -2, "plot");
  }
  if (call(L, M, "setup", 2, 0) != LUA_OK) {
    fprintf(stderr, "cartpole: %s\n", lua_tostring(L, -1));
    goto out;
  }
  if (!quiet) printf("cart-pole: %ld controllers, %s, seed %llu, at most %ld generations\n", popsize, strategy,
                     (unsigned long long)seed, generations);
  status = 2;
  long g;
  double eval = 0;
  for (g = 1; g <= generations; g++) {
    /* once per generation: best, mean = M.generation() (ask, simulate, tell) */
    if (call(L, M, "generation", 0, 2) != LUA_OK) {
      fprintf(stderr, "cartpole: generation %ld: %s\n", g, lua_tostring(L, -1));
      status = 1;
      goto out;
    }
    double best = lua_tonumber(L, -2), mean = lua_tonumber(L, -1);
    lua_pop(L, 2);
    if (!quiet) printf("generation %3ld  best %5.1f  mean %6.1f\n", g, best, mean);
    if (best < MAX_STEPS) continue;
    /* a controller balanced for 500 steps: M.evaluate(100) over fresh episodes */
    lua_pushinteger(L, 100);
    if (call(L, M, "evaluate", 1, 1) != LUA_OK) {
      fprintf(stderr, "cartpole: evaluate: %s\n", lua_tostring(L, -1));
      status = 1;
      goto out;
    }
    eval = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!quiet) printf("  best controller: %.2f average return over 100 fresh episodes\n", eval);
    if (eval >= 475) {
      status = 0;
      break;
    }
  }
  double wall = now() - t0;
  /* M.finish() (optional): the script draws its fitness plot */
  lua_getfield(L, M, "finish");
  if (!lua_isnil(L, -1)) {
    if (nyto_pcall(L, 0, 0) != LUA_OK) {
      fprintf(stderr, "cartpole: finish: %s\n", lua_tostring(L, -1));
      status = 1;
    }
  } else {
    lua_pop(L, 1);
  }
  if (status == 0)
    printf("solved: generation %ld, average return %.2f over 100 fresh episodes (>= 475), wall time %.2f s\n", g, eval, wall);
  else
    printf("not solved in %ld generations, wall time %.2f s\n", generations, wall);
out:
  lua_close(L);
  free(env.state);
  free(env.obs);
  free(env.ret);
  free(env.done);
  return status;
}
