--[[
job_submit.lua - softmig rules for jobs that ask for a GPU slice (SLURM job_submit/lua plugin).

  * A job may hold one slice: exactly one GPU of a slice type (--gres=gpu:l40s.2:1 or
    --gpus=l40s.2:1), on one node, not mixed with other GPU types, not per task or socket.
  * A slice job with no partition is routed by slice type and time limit (ROUTES below); a
    slice job that names a partition must name one that serves its slice type.
  * Jobs without a slice type (full GPUs, CPU jobs) are not touched.
  * An MPS slice (a type marked mps in slices.conf) is a slice like the others.

The slice types are the types listed in the same slices.conf the Prolog uses (SLICES_FILE).
Install as job_submit.lua next to slurm.conf, with JobSubmitPlugins=lua. If the site already
has a job_submit.lua, call softmig_job_submit(job_desc, submit_uid) from its slurm_job_submit.
--]]

-------------------------------------------------------------------------- site settings
local SLICES_FILE = "/etc/softmig/slices.conf"

-- First match wins: the first route whose types contain the job's slice type and whose
-- max_minutes is at least the job's time limit gives the partition. MPS slice types (marked mps
-- in slices.conf) route like any other: SLURM runs them only on nodes whose gres.conf has their
-- type, which are the nodes with GPUs shared through MPS.
local ROUTES = {
	{ types = { "l40s.2", "l40s.4", "l40s.8", "l40s.mps4" }, max_minutes = 3 * 60, partition = "gpu-slice-short" },
	{ types = { "l40s.2", "l40s.4", "l40s.8", "l40s.mps4" }, max_minutes = 7 * 24 * 60, partition = "gpu-slice" },
}

-- Time limit assumed for routing when the job gives none.
local DEFAULT_MINUTES = 60

--------------------------------------------------------------------------------------------
local NO_VAL = 4294967294
local INFINITE = 4294967295

-- slice type -> true, read once per slurmctld (re)configure.
local function read_slice_types(path)
	local file = io.open(path, "r")
	if file == nil then
		return nil
	end
	local types = {}
	for line in file:lines() do
		line = line:gsub("#.*$", "")
		local name = line:match("^%s*([%w%._%-]+)%s*=")
		if name then
			types[name] = true
		end
	end
	file:close()
	return types
end

local slice_types = read_slice_types(SLICES_FILE)

-- The GPU requests in one tres_per_* string: a list of { type = "l40s.2" or nil, count = n }.
-- SLURM 22.05 writes "gres:gpu:l40s.2:1" (also "gres/gpu:l40s.2=1" in newer releases),
-- comma separated, count optional.
local function gpu_requests(tres)
	local found = {}
	if tres == nil or tres == "" then
		return found
	end
	for item in string.gmatch(tres, "[^,]+") do
		item = item:gsub("^gres[:/]", "")
		local rest = item:match("^gpu:(.*)$") or item:match("^gpu=(.*)$")
		if item == "gpu" then
			table.insert(found, { type = nil, count = 1 })
		elseif rest ~= nil then
			local gtype, count = rest:match("^([^:=]+)[:=](%d+)$")
			if gtype == nil then
				if rest:match("^%d+$") then
					count = rest
				else
					gtype = rest
				end
			end
			table.insert(found, { type = gtype, count = tonumber(count or "1") })
		end
	end
	return found
end

local function route(slice, minutes)
	for _, r in ipairs(ROUTES) do
		for _, t in ipairs(r.types) do
			if t == slice and minutes <= r.max_minutes then
				return r.partition
			end
		end
	end
	return nil
end

local function serves(partition, slice)
	for _, r in ipairs(ROUTES) do
		if r.partition == partition then
			for _, t in ipairs(r.types) do
				if t == slice then
					return true
				end
			end
		end
	end
	return false
end

local function reject(msg)
	slurm.log_user("softmig: " .. msg)
	return slurm.ERROR
end

-- The checks for a submitted job (route = true) or for a change to a pending one (route =
-- false: only the fields being changed are present, the partition is left as it is).
local function check(job_desc, submit_uid, route_it)
	if slice_types == nil then
		slurm.log_error("softmig: cannot read %s; slice requests are not checked", SLICES_FILE)
		return slurm.SUCCESS
	end

	local slices, others = {}, 0
	local where = nil
	for _, field in ipairs({ "tres_per_node", "tres_per_job", "tres_per_task", "tres_per_socket" }) do
		for _, g in ipairs(gpu_requests(job_desc[field])) do
			if g.type ~= nil and slice_types[g.type] then
				table.insert(slices, g)
				where = field
			else
				others = others + 1
			end
		end
	end
	if #slices == 0 then
		return slurm.SUCCESS
	end

	local slice = slices[1].type
	if #slices > 1 or slices[1].count ~= 1 then
		return reject("a job may use one GPU slice; ask for gpu:" .. slice .. ":1")
	end
	if others > 0 then
		return reject("a job cannot mix a GPU slice (" .. slice .. ") with other GPUs")
	end
	if where == "tres_per_task" or where == "tres_per_socket" then
		return reject("ask for a slice per job or per node (--gres=gpu:" .. slice .. ":1), not per task or socket")
	end
	local min_nodes = job_desc.min_nodes
	if min_nodes ~= nil and min_nodes ~= NO_VAL and min_nodes > 1 then
		return reject("a GPU slice job runs on one node")
	end
	if route_it then
		job_desc.max_nodes = 1
	end

	local minutes = job_desc.time_limit
	if minutes == nil or minutes == NO_VAL then
		minutes = DEFAULT_MINUTES
	elseif minutes == INFINITE then
		minutes = math.huge
	end

	local partition = job_desc.partition
	if (partition == nil or partition == "") and not route_it then
		return slurm.SUCCESS
	end
	if partition == nil or partition == "" then
		local chosen = route(slice, minutes)
		if chosen == nil then
			return reject("no partition serves " .. slice .. " slices for a time limit of " .. tostring(minutes) .. " minutes")
		end
		job_desc.partition = chosen
		slurm.log_info("softmig: job from uid %d with slice %s routed to %s", submit_uid, slice, chosen)
		return slurm.SUCCESS
	end
	for p in string.gmatch(partition, "[^,]+") do
		if not serves(p, slice) then
			return reject("partition " .. p .. " does not serve " .. slice .. " slices")
		end
	end
	return slurm.SUCCESS
end

function softmig_job_submit(job_desc, submit_uid)
	return check(job_desc, submit_uid, true)
end

function softmig_job_modify(job_desc, modify_uid)
	return check(job_desc, modify_uid, false)
end

function slurm_job_submit(job_desc, part_list, submit_uid)
	return softmig_job_submit(job_desc, submit_uid)
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	return softmig_job_modify(job_desc, modify_uid)
end

return slurm.SUCCESS
