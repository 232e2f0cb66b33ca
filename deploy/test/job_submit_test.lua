--[[
job_submit_test.lua - checks deploy/slurm/job_submit.lua without a slurmctld.

  lua5.1 job_submit_test.lua SCRIPT
SCRIPT is job_submit.lua with SLICES_FILE pointing at a slice table that lists l40s.2,
l40s.4, l40s.8 and the MPS slice l40s.mps4 (unit-test.sh prepares it). Prints one line per check and
"N passed, M failed"; exits 1 when a check failed.
--]]

local NO_VAL = 4294967294
local messages = {}
slurm = {
	SUCCESS = 0,
	ERROR = -1,
	log_user = function(fmt, ...) table.insert(messages, string.format(fmt, ...)) end,
	log_info = function() end,
	log_error = function(fmt, ...) table.insert(messages, string.format(fmt, ...)) end,
}
assert(loadfile(arg[1]))()

local passed, failed = 0, 0
local function check(name, ok)
	if ok then
		passed = passed + 1
		print("PASS: " .. name)
	else
		failed = failed + 1
		print("FAIL: " .. name .. (messages[#messages] and (" (last message: " .. messages[#messages] .. ")") or ""))
	end
end

local function job(fields)
	local j = { time_limit = NO_VAL, min_nodes = NO_VAL, max_nodes = NO_VAL }
	for k, v in pairs(fields) do
		j[k] = v
	end
	return j
end

local j = job({ tres_per_node = "gres:gpu:l40s.2:1" })
check("short half slice without partition is routed to the short slice partition",
	slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice-short" and j.max_nodes == 1)

j = job({ tres_per_node = "gres:gpu:l40s.4:1", time_limit = 24 * 60 })
check("a one-day quarter slice is routed to the long slice partition",
	slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice")

j = job({ tres_per_node = "gres:gpu:l40s.4:1", time_limit = 30 * 24 * 60 })
check("a slice longer than every route is refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_job = "gres:gpu:l40s.8:1" })
check("--gpus=l40s.8:1 is a slice too", slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice-short")

j = job({ tres_per_node = "gres:gpu:l40s.mps4:1" })
check("an MPS slice is routed like the others",
	slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice-short" and j.max_nodes == 1)

j = job({ tres_per_node = "gres:gpu:l40s.mps4:2" })
check("two MPS slices in one job are refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s.2" })
check("a slice without a count counts one", slurm_job_submit(j, {}, 1000) == slurm.SUCCESS)

j = job({ tres_per_node = "gres:gpu:l40s.2:2" })
check("two slices in one job are refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s.2:1,gres:gpu:l40s.4:1" })
check("two slice types in one job are refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s.2:1,gres:gpu:l40s:1" })
check("a slice mixed with a full GPU is refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_task = "gres:gpu:l40s.2:1" })
check("a slice per task is refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s.2:1", min_nodes = 2 })
check("a slice job over two nodes is refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s.2:1", partition = "gpu-slice" })
check("a slice job naming a slice partition is accepted",
	slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice")

j = job({ tres_per_node = "gres:gpu:l40s.2:1", partition = "cpu" })
check("a slice job naming a partition without slices is refused", slurm_job_submit(j, {}, 1000) == slurm.ERROR)

j = job({ tres_per_node = "gres:gpu:l40s:2", partition = "gpu" })
check("a full-GPU job is not touched",
	slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu" and j.max_nodes == NO_VAL)

j = job({ tres_per_node = "gres/gpu:l40s.2=1" })
check("the newer gres/gpu:TYPE=N spelling is understood", slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu-slice-short")

j = job({})
check("a CPU job is not touched", slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == nil)

-- Only the TRES fields count: a name, comment or path that looks like a request is no request.
for _, hostile in ipairs({ "GRES=gpu:l40s.2", "gpu:l40s.2:1", "gres:gpu:l40s.2:1",
	"x TresPerNode=gres:gpu:l40s.2:1 y", "a\nTresPerNode=gres:gpu:l40s.2:1" }) do
	j = job({ name = hostile, comment = hostile, admin_comment = hostile, work_dir = "/tmp/" .. hostile,
		std_out = hostile, features = hostile })
	check("a CPU job named and commented '" .. hostile:gsub("\n", "\\n") .. "' is not a slice job",
		slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == nil and j.max_nodes == NO_VAL)
	j = job({ name = hostile, comment = hostile, tres_per_node = "gres:gpu:l40s:1", partition = "gpu" })
	check("a full-GPU job named '" .. hostile:gsub("\n", "\\n") .. "' stays a full-GPU job",
		slurm_job_submit(j, {}, 1000) == slurm.SUCCESS and j.partition == "gpu")
end

j = { tres_per_node = "gres:gpu:l40s.2:3" }
check("raising a pending job to three slices is refused", slurm_job_modify(j, {}, {}, 1000) == slurm.ERROR)

j = { tres_per_node = "gres:gpu:l40s.4:1" }
check("changing a pending job to another slice keeps its partition",
	slurm_job_modify(j, {}, {}, 1000) == slurm.SUCCESS and j.partition == nil)

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
