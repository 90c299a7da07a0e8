-- The nyto program's REPL driven through a pseudo-terminal (tmux, its own
-- server socket per spec, killed at the end): completion, printing, errors, help.
local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  return out
end

local tn = os.tmpname()
os.remove(tn)
local sock = "nyto_repl_spec_" .. tn:match("([%w_]+)$")
local home = os.tmpname()
os.remove(home)
os.execute("mkdir -p " .. home)

local function tmux(args) return sh("tmux -L " .. sock .. " " .. args) end
local function screen()
  return (tmux("capture-pane -p -J -S -200 -t repl"):gsub("[ \t]+\n", "\n"):gsub("%s+$", "")) .. "\n"
end

-- wait (up to 30 s of wall time, polling: a loaded machine is slow to echo) until the screen
-- contains plain text `want`
local function wait_for(want, after)
  after = after or 0
  local deadline = os.time() + 30
  while os.time() <= deadline do
    local s = screen()
    if s:find(want, after + 1, true) then return s end
    os.execute("sleep 0.025")
  end
  error("screen never showed " .. want .. ":\n" .. screen())
end

local mark = 0
local function send(text, enter)
  local pos = #screen() - 3 -- before the prompt the text follows
  tmux("send-keys -t repl -l '" .. text:gsub("'", "'\\''") .. "'")
  if enter ~= false then tmux("send-keys -t repl Enter") end
  return pos
end

-- send a line, then wait for the marker printed after it, and return what came between
local n = 0
local function eval(line)
  n = n + 1
  send(line)
  local m = "<<" .. n .. ">>"
  send("print('<<' .. " .. n .. " .. '>>')")
  local s = wait_for(m .. "\n")
  -- up to the prompt line of the marker (its keys may also echo earlier, while a line runs)
  local to = s:find("\n" .. m .. "\n", 1, true)
  to = s:sub(1, to - 1):match(".*()\n") or to
  local from, at = 0, 1
  while true do -- the last echo of the line before the marker
    local a, b = s:find("\n> " .. line .. "\n", at, true)
    if not a or a > to then break end
    from, at = b - 1, a + 1
  end
  return s:sub(from + 1, to)
end

describe("the nyto REPL in a terminal", function()
  setup(function()
    tmux("new-session -d -s repl -x 150 -y 50 -c " .. os.getenv("PWD") .. " 'env HOME=" .. home
      .. " TERM=xterm build/nyto'")
    wait_for("Ctrl-D exits")
  end)
  teardown(function()
    local path = tmux("display-message -p '#{socket_path}'"):match("^(%S+)")
    tmux("kill-server")
    if path and path:find(sock, 1, true) then os.remove(path) end
    os.execute("rm -rf " .. home)
  end)

  it("pretty-prints tables: sizes, nyto.stats(), lists of tensors one per line", function()
    assert.matches("\n[3, 7]\n", eval("nyto.zeros(3, 7):size()"), 1, true)
    local st = eval("nyto.stats()")
    assert.matches("tensors = %d+", st)
    assert.matches("bytes = %d+", st)
    local l = eval("{nyto.ones(2), nyto.zeros(2)}")
    assert.matches("{\n  tensor([1., 1.]),\n  tensor([0., 0.]),\n}", l, 1, true)
    assert.matches('{a = 1, b = {c = "x"}}', eval("{a = 1, b = {c = 'x'}}"), 1, true)
    assert.matches("{d = {e = {...} (1 entries)}}", eval("{d = {e = {f = {}}}}"), 1, true)
  end)

  it("prints nothing for a statement, and the value of a multi-line expression", function()
    assert.equal("\n", eval("x = 5"))
    assert.matches("\n5\n", eval("x"), 1, true)
    send("nyto.tensor({1,")
    wait_for(">>")
    local s = eval("2})")
    assert.matches("tensor([1., 2.])", s, 1, true)
    assert.matches("\n3\n", eval("= 1 + 2"), 1, true)
  end)

  it("shows a user's error and a syntax error as Lua does, a nyto error with its prefix", function()
    local e = eval("error('boom')")
    assert.matches("\nstdin:1: boom\n", e, 1, true)
    assert.is_nil(e:find("nyto: stdin", 1, true))
    assert.matches("\nstdin:1: unexpected symbol near '1'\n", eval("1 +* 2"), 1, true) -- as lua5.4 -i
    local z = eval("nyto.zeros(-1)")
    assert.matches("nyto: bad argument #1 to 'zeros'", z, 1, true)
    assert.is_nil(z:find("nyto: nyto:", 1, true))
    local c = eval("nyto.class(1)")
    assert.matches("nyto: bad argument #1 to 'class'", c, 1, true)
    assert.is_nil(c:find("lua/nyto/", 1, true))
  end)

  it("completes globals, fields, methods and file names", function()
    local p = send("nyto.zeros_l", false)
    tmux("send-keys -t repl Tab")
    wait_for("nyto.zeros_like", p)
    tmux("send-keys -t repl C-u")
    eval("t = nyto.ones(2)")
    p = send("t:nume", false)
    tmux("send-keys -t repl Tab")
    wait_for("t:numel", p)
    tmux("send-keys -t repl C-u")
    p = send("prin", false)
    tmux("send-keys -t repl Tab")
    wait_for("> print", p)
    tmux("send-keys -t repl C-u")
    p = send("x = 'spec/repl_sp", false)
    tmux("send-keys -t repl Tab")
    wait_for("spec/repl_spec.lua", p)
    tmux("send-keys -t repl C-u")
    assert.matches("\n1\n", eval("1"), 1, true) -- still alive
  end)

  it("has help(x), help() and %time", function()
    local h = eval("help(nyto.zeros)")
    assert.matches("nyto.zeros(sizes... [, opts]): a tensor of zeros", h, 1, true, screen())
    assert.matches("t:sum(", eval("help('Tensor:sum')"), 1, true)
    assert.matches("help(x): the one-line doc", eval("help()"), 1, true)
    local tm = eval("%time 6 * 7")
    assert.matches("\n42\ntime: [%d.]+ [mu]?s\n", tm)
  end)
end)
