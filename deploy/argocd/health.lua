-- Argo CD health check for canary.dev Canaries (Argo CD runs it with gopher-lua, Lua 5.1).
--
-- Healthy      the release is serving: Initialized (first primary up) or Succeeded (promoted);
-- Progressing  the controller has not seen this spec yet, or a rollout is under way;
-- Suspended    the rollout waits for a person or a gate (Waiting, WaitingPromotion, suspended);
-- Degraded     rolled back (Failed), or the spec is refused (Valid=False).
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function suspended(o)
  if o.spec ~= nil and o.spec.suspend == true then
    return true
  end
  local annotations = o.metadata ~= nil and o.metadata.annotations or nil
  if annotations == nil or annotations["canary.dev/suspend"] == nil then
    return false
  end
  local value = string.lower(annotations["canary.dev/suspend"])
  local no = { [""] = true, ["false"] = true, ["no"] = true, ["n"] = true, ["off"] = true,
               ["0"] = true, ["none"] = true, ["null"] = true }
  return not no[value]
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to initialize the Canary"
  return hs
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local valid = condition(status, "Valid")
if valid ~= nil and valid.status == "False" then
  hs.status = "Degraded"
  hs.message = "invalid Canary: " .. (valid.message or "")
  return hs
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. generation
  return hs
end

local phase = status.phase
local weight = tonumber(status.canaryWeight) or 0
local message = status.message or ""
if phase == "Initialized" or phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" then
  hs.status = "Degraded"
elseif suspended(obj) then
  hs.status = "Suspended"
  message = "suspended: " .. message
elseif phase == "Waiting" or phase == "WaitingPromotion" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
if weight > 0 then
  message = "canary weight " .. weight .. "%: " .. message
end
hs.message = phase .. ": " .. message
return hs
