-- nyto.progress: a training progress line.
--
--   local bar = nyto.progress(#loader, {title = "epoch 1"})
--   for i, ... do ...; bar:update(i, {loss = l, acc = a}) end
--   bar:finish()
--
-- update(n, stats) sets the position to n items done (an absolute count, as in
-- "batch i/total"; bar:step(stats) advances by one).  On a terminal the line is
-- redrawn in place (at most ~10 times a second): position, percent, loss,
-- accuracy, rate (items/s), ETA.  When the output is not a terminal (a log
-- file, a pipe, CI) it stays quiet: one plain line each time another ~10% is
-- done, and one at the end.
--
-- Options: title, unit ("it": the rate's unit), out (a file handle: io.stdout
-- by default), tty (true/false: force the mode instead of detecting it),
-- clock (a function returning seconds, for tests), width (columns, default
-- $COLUMNS or 80).
return function(nyto, core)
  -- wall-clock seconds with 10 ms resolution, without C: /proc/uptime on Linux,
  -- os.time() (whole seconds) elsewhere.  os.clock() is CPU time of all
  -- threads, which libtorch's thread pool inflates, so it is not used.
  local function uptime()
    local f = io.open("/proc/uptime", "r")
    if not f then return nil end
    local v = f:read("n")
    f:close()
    return v
  end
  local have_uptime = uptime() ~= nil
  local function wallclock()
    if have_uptime then
      local v = uptime()
      if v then return v end
    end
    return os.time()
  end

  -- Is this stream a terminal?  stdout/stderr: `test -t` in a shell that inherits
  -- them (one fork per stream per process, cached), and only when TERM names a
  -- terminal that can redraw; any other handle is not a terminal.
  local tty_cache = {}
  local function is_terminal(out)
    local fd = (out == io.stdout and 1) or (out == io.stderr and 2) or nil
    if not fd then return false end
    if tty_cache[fd] == nil then
      local term = os.getenv("TERM")
      if not term or term == "" or term == "dumb" then
        tty_cache[fd] = false
      else
        local ok = os.execute("test -t " .. fd)
        tty_cache[fd] = ok == true
      end
    end
    return tty_cache[fd]
  end

  local function fmt_time(s)
    if s ~= s or s == math.huge or s < 0 then return "--:--" end
    s = math.floor(s + 0.5)
    local h, m, sec = s // 3600, (s // 60) % 60, s % 60
    if h > 0 then return string.format("%d:%02d:%02d", h, m, sec) end
    return string.format("%02d:%02d", m, sec)
  end

  local function fmt_rate(r, unit)
    if r ~= r or r == math.huge then return "? " .. unit .. "/s" end
    if r >= 100 then return string.format("%.0f %s/s", r, unit) end
    if r >= 1 then return string.format("%.1f %s/s", r, unit) end
    if r > 0 then return string.format("%.1f s/%s", 1 / r, unit) end
    return "? " .. unit .. "/s"
  end

  local function fmt_value(k, v)
    if type(v) ~= "number" then return k .. " " .. tostring(v) end
    if k == "acc" or k == "accuracy" then
      if v >= 0 and v <= 1 then return string.format("%s %.2f%%", k, v * 100) end
      return string.format("%s %.2f", k, v)
    end
    if v ~= 0 and (math.abs(v) >= 1e5 or math.abs(v) < 1e-3) then return string.format("%s %.3e", k, v) end
    return string.format("%s %.4f", k, v)
  end

  local Progress = {}
  Progress.__index = Progress
  Progress.__name = "nyto.Progress"

  local argerror = require("nyto.errors").argerr

  function nyto.progress(total, opts)
    if type(total) ~= "number" or total ~= total or total < 0 or total == math.huge then
      argerror(1, "progress", "a total count of at least 0 expected, got " .. tostring(total))
    end
    if opts ~= nil and type(opts) ~= "table" then argerror(2, "progress", "options table expected, got " .. type(opts)) end
    opts = opts or {}
    local out = opts.out or io.stdout
    local tty = opts.tty
    if tty == nil then tty = is_terminal(out) end
    local clock = opts.clock or wallclock
    if type(clock) ~= "function" then argerror(2, "progress", "clock must be a function") end
    local self = setmetatable({
      total = total, title = opts.title and tostring(opts.title) or nil, unit = opts.unit or "it",
      out = out, tty = tty and true or false, clock = clock,
      width = opts.width or tonumber(os.getenv("COLUMNS") or "") or 80,
      n = 0, stats = {}, start = clock(), last_draw = -math.huge, last_decile = 0,
      printed_n = nil, drawn_len = 0, done = false,
    }, Progress)
    return self
  end

  function Progress:line(final)
    local now = self.clock()
    local elapsed = now - self.start
    local n, total = self.n, self.total
    local parts = {}
    if self.title then parts[#parts + 1] = self.title end
    local w = #tostring(math.floor(total))
    local pos = string.format("%" .. w .. "d/%d", math.floor(n), math.floor(total))
    local pct = total > 0 and math.min(100, 100 * n / total) or 100
    parts[#parts + 1] = pos
    parts[#parts + 1] = string.format("%3.0f%%", pct)
    local s = self.stats
    if s.loss ~= nil then parts[#parts + 1] = fmt_value("loss", s.loss) end
    if s.acc ~= nil then parts[#parts + 1] = fmt_value("acc", s.acc) end
    local keys = {}
    for k in pairs(s) do if k ~= "loss" and k ~= "acc" and type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = fmt_value(k, s[k]) end
    local rate = elapsed > 0 and n / elapsed or 0 / 0
    parts[#parts + 1] = fmt_rate(rate, self.unit)
    if final then
      parts[#parts + 1] = "in " .. fmt_time(elapsed)
    else
      local eta = (rate == rate and rate > 0) and (total - n) / rate or 0 / 0
      parts[#parts + 1] = "ETA " .. fmt_time(eta)
    end
    local text = table.concat(parts, "  ")
    if self.tty then
      -- a bar after the position when there is room
      local room = self.width - 1 - #text - 4
      if room >= 10 then
        local bw = math.min(30, room)
        local fill = total > 0 and math.floor(bw * math.min(n, total) / total) or bw
        local bar = "[" .. string.rep("=", fill) .. string.rep(" ", bw - fill) .. "]"
        local i = self.title and 2 or 1
        table.insert(parts, i + 1, bar)
        text = table.concat(parts, "  ")
      end
      if #text > self.width - 1 then text = text:sub(1, self.width - 1) end
    end
    return text
  end

  function Progress:draw(final)
    local text = self:line(final)
    if self.tty then
      self.out:write("\r", text, "\27[K", final and "\n" or "")
    else
      self.out:write(text, "\n")
    end
    self.out:flush()
    self.printed_n = self.n
  end

  -- bar:update(n [, {loss=, acc=, ...}]): n items done so far; stats are shown as given
  function Progress:update(n, stats)
    if type(n) ~= "number" or n ~= n then argerror(1, "update", "number of items done expected, got " .. tostring(n)) end
    if stats ~= nil and type(stats) ~= "table" then argerror(2, "update", "stats table expected, got " .. type(stats)) end
    if self.done then return self end
    self.n = n
    if stats then for k, v in pairs(stats) do self.stats[k] = v end end
    if self.tty then
      local now = self.clock()
      if now - self.last_draw >= 0.1 or n >= self.total then
        self.last_draw = now
        self:draw(false)
      end
    else
      local decile = self.total > 0 and math.floor(10 * math.min(n, self.total) / self.total) or 10
      if decile >= 10 then
        -- the end: the final line now (finish() will not repeat it)
        self.last_decile = 10
        if self.printed_final ~= n then
          self:draw(true)
          self.printed_final = n
        end
      elseif decile > self.last_decile then
        self.last_decile = decile
        self:draw(false)
      end
    end
    return self
  end

  -- bar:step([stats]): one more item done
  function Progress:step(stats) return self:update(self.n + 1, stats) end

  -- bar:finish([stats]): the final line (with the elapsed time); later calls do nothing
  function Progress:finish(stats)
    if self.done then return self end
    if stats ~= nil and type(stats) ~= "table" then argerror(1, "finish", "stats table expected, got " .. type(stats)) end
    if stats then for k, v in pairs(stats) do self.stats[k] = v end end
    if self.tty or self.printed_final ~= self.n or stats then self:draw(true) end
    self.done = true
    return self
  end
  Progress.close = Progress.finish
  Progress.__close = function(self) self:finish() end

  nyto.Progress_mt = Progress
end
