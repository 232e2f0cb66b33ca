/* KEY=VALUE settings and admin config file text. */
#include <string.h>

#include "check.h"
#include "config.h"

int main(void)
{
	struct shim_config c;

	memset(&c, 0, sizeof(c));
	CHECK(cfg_apply(&c, "CUDA_DEVICE_MEMORY_LIMIT", "12G") == 0);
	CHECK(c.mem_limit == 12ULL << 30);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_MEMORY_LIMIT", "12Q") == -1);
	CHECK(c.mem_limit == 12ULL << 30);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_MEMORY_LIMIT_1", "4G") == 0);
	CHECK(cfg_mem_limit(&c, 1) == 4ULL << 30);
	CHECK(cfg_mem_limit(&c, 0) == 12ULL << 30);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_MEMORY_LIMIT_X", "4G") == 1);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_MEMORY_LIMIT_999", "4G") == 1);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_SM_LIMIT", "25") == 0);
	CHECK(c.sm_limit == 25.0);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_SM_LIMIT", "101") == -1);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_SM_LIMIT", "abc") == -1);
	CHECK(cfg_apply(&c, "CUDA_DEVICE_SM_LIMIT_0", "12.5") == 0);
	CHECK(cfg_sm_limit(&c, 0) == 12.5);
	CHECK(cfg_sm_limit(&c, 3) == 25.0);
	CHECK(cfg_apply(&c, "SOMETHING_ELSE", "x") == 1);

	memset(&c, 0, sizeof(c));
	CHECK(cfg_apply_file_text(&c, "# written by the prolog\n"
				      "CUDA_DEVICE_MEMORY_LIMIT=6G\n"
				      "\n"
				      "  CUDA_DEVICE_SM_LIMIT = 50   # half\n"
				      "export LIBCUDA_LOG_LEVEL=3\n"
				      "UNKNOWN=1\n") == 0);
	CHECK(c.mem_limit == 6ULL << 30);
	CHECK(c.sm_limit == 50.0);
	CHECK(c.log_level == 3);

	memset(&c, 0, sizeof(c));
	CHECK(cfg_apply_file_text(&c, "CUDA_DEVICE_MEMORY_LIMIT=lots\nno equals sign\nCUDA_DEVICE_SM_LIMIT=10") == 2);
	CHECK(c.mem_limit == 0);
	CHECK(c.sm_limit == 10.0);
	return check_done();
}
