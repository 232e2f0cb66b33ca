/*
 * Kernels for the compute benchmark (spin.c), compiled to a fatbin that spin
 * loads with cuModuleLoad, so spin itself is a plain driver-API C program.
 *
 * softmig_busy does a fixed amount of work (a dependent FMA chain), not a
 * fixed amount of wall time: when the driver or softmig takes the GPU away
 * mid-kernel, the kernel simply finishes later, so "kernels completed x time
 * per kernel alone" measures the GPU time a job really got.
 */
extern "C" __global__ void softmig_empty(void)
{
}

extern "C" __global__ void softmig_busy(unsigned long long iters, float *sink)
{
	float a = (float)threadIdx.x;

	for (unsigned long long i = 0; i < iters; i++)
		a = fmaf(a, 1.000001f, 0.5f);
	if (a == -1.0f)
		sink[threadIdx.x] = a; /* never true; keeps the loop alive */
}

/*
 * softmig_busy's work, then a store far past any allocation: CUDA_ERROR_ILLEGAL_ADDRESS, the
 * fault of one MPS client that the GPU suite's mps:fault step measures the others against.
 */
extern "C" __global__ void softmig_fault(unsigned long long iters, float *sink)
{
	float a = (float)threadIdx.x;

	for (unsigned long long i = 0; i < iters; i++)
		a = fmaf(a, 1.000001f, 0.5f);
	((volatile float *)sink)[(1ULL << 40) + threadIdx.x] = a;
}

/* Spins for `cycles` SM clock cycles (clock64): fixed time, not fixed work. */
extern "C" __global__ void softmig_spin(long long cycles)
{
	long long start = clock64();

	while (clock64() - start < cycles)
		;
}
