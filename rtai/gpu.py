"""Whether a CUDA GPU can be used here: the TensorRT builds and their environment need one."""

from __future__ import annotations

import ctypes


def gpu_problem() -> str | None:
    """Why no CUDA GPU can be used here, or None when one can."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no CUDA GPU found: the NVIDIA driver library libcuda.so.1 is not loadable"
    if cuda.cuInit(0) != 0:
        return "no CUDA GPU found: cuInit failed"
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return "no CUDA GPU found: the driver reports no device"
    return None
